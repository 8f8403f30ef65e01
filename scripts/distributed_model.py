#!/usr/bin/env python3
"""scripts/distributed_model.py - the scaling model of docs/distributed.md, on paper.

Ring all-reduce of B bytes over N ranks, in k buckets, on links of bandwidth BW (bytes/s) with a
per-message latency alpha:

    T_allreduce(N) = 2 (N - 1) / N * B / BW  +  k * 2 (N - 1) * alpha

Weak scaling (every rank keeps its batch, the global batch grows with N); a step is the
measured compute of one rank plus the part of the all-reduce that is not hidden:

    no overlap:    T_step = T_compute + T_allreduce
    with overlap:  T_step = T_compute + max(T_allreduce - W, T_last)
                   W      = the backward time after the first bucket is issued (measured share)
                   T_last = the all-reduce of the last bucket (issued when backward ends)
    efficiency = T_compute / T_step

Inputs that are MEASURED on the 2-core machine (bench/bench_distributed.cpp): T_compute of LM L
and the share of it after the first bucket. Everything else (the networks, alpha, the other
models' compute) is MODELLED: nominal link rates, no congestion, ring algorithm only.

    python3 scripts/distributed_model.py [--compute-ms 120] [--overlap-share 0.6]
"""
import argparse

MiB = 1024 * 1024


def lm_parameters(vocabulary, embedding, hidden, layers=1):
    lstm = 0
    inputs = embedding
    for _ in range(layers):
        lstm += 4 * hidden * (inputs + hidden) + 8 * hidden
        inputs = hidden
    return vocabulary * embedding + lstm + hidden * vocabulary + vocabulary


def classifier_parameters(vocabulary=10000, embedding=128, hidden=128):
    return vocabulary * embedding + 4 * hidden * (embedding + hidden) + 8 * hidden + hidden + 1


def gpt_parameters(layers, width, vocabulary, context=128, tied=True):
    per_layer = 12 * width * width + 13 * width  # LN, QKV, out-proj, LN, 4x MLP (weights + biases)
    total = vocabulary * width + context * width + layers * per_layer + 2 * width
    return total if tied else total + vocabulary * width


# LM L's parameters in registration order (element counts): embedding, LSTM W_ih, W_hh, b_ih,
# b_hh, decoder weight, decoder bias.
LM_L_PARAMETERS = [10000 * 128, 1024 * 128, 1024 * 256, 1024, 1024, 10000 * 256, 10000]


def bucket_bytes(parameters, first_cap, cap):
    """DistributedDataParallel's buckets (reverse order, first bucket first_cap MiB, then cap MiB)."""
    buckets = []
    for count in reversed(parameters):
        nbytes = 4 * count
        limit = (first_cap if len(buckets) == 1 else cap) * MiB
        if not buckets or buckets[-1] + nbytes > limit:
            buckets.append(0)
        buckets[-1] += nbytes
    return buckets


def allreduce_seconds(n, nbytes, bandwidth, alpha, buckets):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bandwidth + buckets * 2 * (n - 1) * alpha


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compute-ms", type=float, default=None,
                        help="measured fwd+bwd of LM L, batch 32 x 35, one rank (ms)")
    parser.add_argument("--overlap-share", type=float, default=None,
                        help="measured share of the compute after the first bucket is issued")
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    args = parser.parse_args()

    models = {
        "LM L": lm_parameters(10000, 128, 256),
        "spam classifier": classifier_parameters(),
        "GPT 4/4/128/10k": gpt_parameters(4, 128, 10000),
        "GPT 6/6/384/10k": gpt_parameters(6, 384, 10000),
    }
    print("gradient volume per step (float32, every parameter's gradient once):")
    for name, count in models.items():
        print(f"  {name:18s} {count:>11,d} parameters  {4 * count / 1e6:7.2f} MB")
    print(f"  (GPT: tied input/output embedding, context 128; untied adds vocabulary x width:"
          f" {gpt_parameters(4, 128, 10000, tied=False):,d} and {gpt_parameters(6, 384, 10000, tied=False):,d})")

    networks = {"25 Gb/s Ethernet": (25e9 / 8, 20e-6), "200 Gb/s InfiniBand": (200e9 / 8, 3e-6)}
    if args.compute_ms is None or args.overlap_share is None:
        return
    compute = args.compute_ms / 1000
    nbytes = 4 * models["LM L"]
    for cap in (args.bucket_mb, 4.0):
        buckets = bucket_bytes(LM_L_PARAMETERS, first_cap=1.0, cap=cap)
        last = buckets[-1]
        print(f"\nLM L, weak scaling (batch 32 x 35 per rank), compute {args.compute_ms:.1f} ms (--compute-ms), "
              f"{100 * args.overlap_share:.0f}% of it after the first bucket is issued (--overlap-share);\n"
              f"buckets 1 MiB then {cap:g} MiB: {len(buckets)} buckets of "
              + ", ".join(f"{b / 1e6:.2f}" for b in buckets) + " MB, the last one issued when backward ends:")
        print(f"  {'network':22s} {'ranks':>5s} {'allreduce ms':>12s} {'step ms (no ovl)':>16s} {'eff':>5s}"
              f" {'step ms (ovl)':>13s} {'eff':>5s}")
        for network, (bandwidth, alpha) in networks.items():
            for n in (2, 8, 64, 512):
                total = allreduce_seconds(n, nbytes, bandwidth, alpha, len(buckets))
                tail = allreduce_seconds(n, last, bandwidth, alpha, 1)
                plain = compute + total
                overlapped = compute + max(total - args.overlap_share * compute, tail)
                print(f"  {network:22s} {n:5d} {1e3 * total:12.2f} {1e3 * plain:16.1f} {compute / plain:5.2f}"
                      f" {1e3 * overlapped:13.1f} {compute / overlapped:5.2f}")
    print("\nbucket size where the latency term is 10% of the bandwidth term (s >= 10 N alpha BW):")
    for network, (bandwidth, alpha) in networks.items():
        sizes = ", ".join(f"N={n}: {10 * n * alpha * bandwidth / MiB:.1f} MiB" for n in (2, 8, 64, 512))
        print(f"  {network:22s} {sizes}")


if __name__ == "__main__":
    main()
