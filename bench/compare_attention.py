#!/usr/bin/python3
"""PyTorch's composed causal attention at bench_attention's shapes, for a side-by-side figure:
    out = softmax(q k^T * scale + mask, -1) v      (torch 1.13 has no fused CPU attention)
forward, and forward + backward, float32, torch.set_num_threads(threads); GFLOP/s counted as in
bench/bench_attention.cpp (4 B H T^2 D / 2 for a causal forward, 3x that with the backward).

    /usr/bin/python3 bench/compare_attention.py --threads 2 --seconds 2
"""
import argparse
import math
import time

import torch

SHAPES = {"gpt_S": (32, 4, 64, 32), "gpt_M": (4, 6, 256, 64)}


def composed(q, k, v, mask, scale):
    return torch.softmax(q @ k.transpose(-1, -2) * scale + mask, -1) @ v


def measure(shape, backward, seconds):
    b, h, t, d = shape
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, t, d, generator=generator).requires_grad_(backward) for _ in range(3))
    mask = torch.full((t, t), float("-inf")).triu(1)
    scale = 1.0 / math.sqrt(d)
    grad = torch.ones(b, h, t, d)

    def step():
        out = composed(q, k, v, mask, scale)
        if backward:
            out.backward(grad)
            q.grad = k.grad = v.grad = None

    for _ in range(3):
        step()
    iterations, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        step()
        iterations += 1
    elapsed = (time.perf_counter() - start) / iterations
    cpu = (time.process_time() - cpu_start) / iterations  # all threads' CPU time, as a check on a busy machine
    flops = 4.0 * b * h * t * t * d / 2 * (3 if backward else 1)
    return elapsed, cpu, flops / elapsed * 1e-9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("torch", torch.__version__, "threads", args.threads)
    for name, shape in SHAPES.items():
        for backward in (False, True):
            elapsed, cpu, gflops = measure(shape, backward, args.seconds)
            label = "%s/%s" % (name, "forward_backward" if backward else "forward")
            print("pytorch_composed/%-24s %10.1f us (CPU %10.1f us) %8.2f GFLOP/s" % (label, elapsed * 1e6, cpu * 1e6,
                                                                                    gflops))


if __name__ == "__main__":
    main()
