#!/usr/bin/python3
"""Side-by-side speed of nabla and PyTorch on the models nabla ships (bench/bench_lm.cpp).

For each configuration it runs, alternately and several rounds: nabla's bench_lm (Google
Benchmark, JSON), PyTorch with its defaults, and PyTorch tuned the way an expert would on a
small machine (OMP_WAIT_POLICY=PASSIVE, so idle OpenMP threads stop spinning against
OpenBLAS's, and tcmalloc through LD_PRELOAD, so big blocks are not returned to the kernel
and page-faulted in again every step). Each run is a fresh process. It prints the median
tokens/s of each and the ratios nabla / PyTorch, and writes them as JSON and an SVG chart.

    /usr/bin/python3 bench/compare_pytorch.py --bench build/bench/bench_lm --threads 2 \
        --rounds 3 --json docs/performance_ratios.json --svg docs/performance_ratios.svg

The GPT configurations (not in the default list) are timed with --configs
gpt_train/S,gpt_train/M,gpt_generate: the same GPT written by hand in PyTorch (torch.nn.MultiheadAttention
in training, which torch 1.13 runs through its own attention; generation through a KV cache kept
with torch.cat, the way an eager PyTorch decoder does it), AdamW, the same shapes.

Needs torch (Debian: python3-torch; the tests never do). Same models, shapes, seeds-free
random data and optimizer as bench_lm.cpp.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = {
    # name: (kind, vocabulary, embedding, hidden, layers, batch, steps)
    "lm_train/S": ("lm_train", 1000, 64, 128, 1, 32, 35),
    "lm_train/L": ("lm_train", 10000, 128, 256, 1, 32, 35),
    "lm_train/XL": ("lm_train", 10000, 256, 1024, 2, 32, 35),
    "lm_inference/L": ("lm_inference", 10000, 128, 256, 1, 32, 35),
    "classifier_train": ("classifier_train", 20000, 128, 128, 1, 64, 200),
}
GPT_CONFIGS = {
    # name: (kind, vocabulary, context, layers, heads, width, batch)
    "gpt_train/S": ("gpt_train", 10000, 64, 4, 4, 128, 32),
    "gpt_train/M": ("gpt_train", 10000, 256, 6, 6, 384, 8),
    "gpt_generate": ("gpt_generate", 50257, 1024, 12, 12, 768, 1),
}
GPT_PROMPT, GPT_NEW_TOKENS = 16, 128
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def gpt_worker(name, threads, seconds):
    """The GPT of bench_lm.cpp (nn::GPT) in PyTorch: pre-LayerNorm blocks, GELU tanh, tied head."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    kind, vocabulary, context, layers, heads, width, batch = GPT_CONFIGS[name]
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
            self.c_fc, self.c_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def mlp(self, x):
            return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))

        def forward(self, x, mask):
            a = self.ln_1(x)
            x = x + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln_2(x))

        def step(self, x, cache):
            """One new position with a KV cache (a list [k, v] of [B, H, T, D] or empty)."""
            a = self.ln_1(x)
            q, k, v = F.linear(a, self.attn.in_proj_weight, self.attn.in_proj_bias).split(width, dim=2)
            q, k, v = (t.reshape(x.shape[0], -1, heads, width // heads).transpose(1, 2) for t in (q, k, v))
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
            scores = (q @ k.transpose(-1, -2)) / (width // heads) ** 0.5
            if q.shape[2] > 1:  # the prompt: causal
                scores = scores.masked_fill(torch.triu(torch.ones(q.shape[2], q.shape[2], dtype=torch.bool), 1),
                                            float("-inf"))
            y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(x.shape[0], -1, width)
            x = x + self.attn.out_proj(y)
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocabulary, width), nn.Embedding(context, width)
            self.h = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(width)

        def forward(self, ids):
            steps = ids.shape[1]
            mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1)
            x = self.wte(ids) + self.wpe(torch.arange(steps))
            for block in self.h:
                x = block(x, mask)
            return F.linear(self.ln_f(x), self.wte.weight)

        def next_logits(self, ids, caches, start):
            x = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1]))
            for block, cache in zip(self.h, caches):
                x = block.step(x, cache)
            return F.linear(self.ln_f(x[:, -1]), self.wte.weight)

    model = GPT()
    if kind == "gpt_generate":
        prompt = torch.randint(0, vocabulary, (1, GPT_PROMPT))

        def step():
            with torch.no_grad():
                caches = [[] for _ in range(layers)]
                logits = model.next_logits(prompt, caches, 0)
                for position in range(GPT_PROMPT, GPT_PROMPT + GPT_NEW_TOKENS):
                    token = logits.argmax(-1, keepdim=True)
                    if position + 1 < GPT_PROMPT + GPT_NEW_TOKENS:
                        logits = model.next_logits(token, caches, position)
        tokens_per_step = GPT_NEW_TOKENS
    else:
        inputs = torch.randint(0, vocabulary, (batch, context))
        targets = torch.randint(0, vocabulary, (batch, context))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step():
            loss = F.cross_entropy(model(inputs).reshape(-1, vocabulary), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        tokens_per_step = batch * context

    step()  # warm-up
    count, start = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - start < seconds:
        step()
        count += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"tokens_per_second": tokens_per_step * count / elapsed, "ms_per_step": 1000 * elapsed / count}))


def torch_worker(name, threads, seconds):
    """Runs in a child process: times one configuration in PyTorch, prints tokens/s as JSON."""
    if name in GPT_CONFIGS:
        gpt_worker(name, threads, seconds)
        return
    import torch
    import torch.nn as nn

    torch.set_num_threads(threads)
    kind, vocabulary, embedding, hidden, layers, batch, steps = CONFIGS[name]
    torch.manual_seed(0)
    inputs = torch.randint(0, vocabulary, (batch, steps))
    if kind == "classifier_train":
        modules = nn.ModuleList([nn.Embedding(vocabulary, embedding),
                                 nn.LSTM(embedding, hidden, batch_first=True), nn.Linear(hidden, 1)])
        labels = (torch.arange(batch) % 2).float().unsqueeze(1)

        def loss_of():
            output, (h, _) = modules[1](modules[0](inputs))
            return nn.functional.binary_cross_entropy(torch.sigmoid(modules[2](h[-1])), labels)
    else:
        modules = nn.ModuleList([nn.Embedding(vocabulary, embedding),
                                 nn.LSTM(embedding, hidden, num_layers=layers, batch_first=True),
                                 nn.Linear(hidden, vocabulary)])
        targets = torch.randint(0, vocabulary, (batch, steps))

        def logits_of():
            output, _ = modules[1](modules[0](inputs))
            return modules[2](output)

        def loss_of():
            return nn.functional.cross_entropy(logits_of().reshape(-1, vocabulary), targets.reshape(-1))
    optimizer = torch.optim.Adam(modules.parameters(), lr=1e-3)

    def step():
        if kind == "lm_inference":
            with torch.no_grad():
                logits_of()
            return
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: allocator, OpenMP team, first-touch pages
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"tokens_per_second": batch * steps * count / elapsed, "ms_per_step": 1000 * elapsed / count}))


def run_measured(command, env=None):
    """Runs `command`; returns its stdout and its own peak resident memory in MB.

    The child is reaped with os.wait4, whose rusage is the child's alone (RUSAGE_CHILDREN
    would be the largest of all children so far)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        stdout = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"compare_pytorch.py: {' '.join(command)} failed:\n{errors.read()}")
    return stdout, usage.ru_maxrss / 1024.0  # Linux reports kilobytes


def run_torch(name, threads, seconds, tuned):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("OMP_WAIT_POLICY", None)
    if tuned:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        if os.path.exists(TCMALLOC):
            env["LD_PRELOAD"] = TCMALLOC
    stdout, peak = run_measured([sys.executable, __file__, "--worker", name, "--threads", str(threads),
                                 "--seconds", str(seconds)], env=env)
    return json.loads(stdout.strip().splitlines()[-1])["tokens_per_second"], peak


def run_nabla(bench, name, threads, seconds):
    stdout, peak = run_measured([bench, f"--benchmark_filter=^{name}/threads:{threads}/real_time$",
                                 f"--benchmark_min_time={seconds}", "--benchmark_format=json"])
    results = json.loads(stdout)["benchmarks"]
    if not results:
        raise SystemExit(f"compare_pytorch.py: {bench} has no benchmark {name}/threads:{threads}")
    return results[0]["tokens/s"], peak


def write_svg(path, rows):
    """A horizontal bar chart of nabla / PyTorch (tuned and default) per configuration."""
    width, bar, gap, left = 640, 14, 16, 150
    largest = max([2.0] + [max(r["vs_tuned"], r["vs_default"]) for r in rows])
    scale = (width - left - 60) / largest
    height = 50 + len(rows) * (2 * bar + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="18" font-weight="bold">nabla speed / PyTorch speed (tokens/s; '
             f'&gt; 1: nabla faster)</text>']
    y = 36
    for row in rows:
        parts.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{row["name"]}</text>')
        for key, colour, label in (("vs_tuned", "#1f77b4", "vs tuned"), ("vs_default", "#aec7e8", "vs default")):
            length = row[key] * scale
            parts.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar}" fill="{colour}"/>')
            parts.append(f'<text x="{left + length + 4:.1f}" y="{y + bar - 3}">{row[key]:.2f}x {label}</text>')
            y += bar
        y += gap
    one = left + scale
    parts.append(f'<line x1="{one:.1f}" y1="30" x2="{one:.1f}" y2="{y}" stroke="#d62728" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{one:.1f}" y="{y + 14}" text-anchor="middle" fill="#d62728">1x</text></svg>')
    with open(path, "w") as out:
        out.write("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default="build/bench/bench_lm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per run")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--json")
    parser.add_argument("--svg")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch_worker(args.worker, args.threads, args.seconds)
        return
    names = args.configs.split(",")
    for name in names:
        if name not in CONFIGS and name not in GPT_CONFIGS:
            raise SystemExit(f"compare_pytorch.py: unknown config '{name}' ({', '.join(list(CONFIGS) + list(GPT_CONFIGS))})")
    rows = []
    print(f"{'config':18} {'nabla':>10} {'torch tuned':>12} {'torch default':>14} {'vs tuned':>9} {'vs default':>11}"
          f" {'peak MB nabla/tuned/default':>28}   (tokens/s, median of {args.rounds}, {args.threads} threads)")
    for name in names:
        samples = {"nabla": [], "tuned": [], "default": []}
        peaks = {"nabla": [], "tuned": [], "default": []}
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hits all three alike
            for key, run in (("nabla", lambda: run_nabla(args.bench, name, args.threads, args.seconds)),
                             ("tuned", lambda: run_torch(name, args.threads, args.seconds, tuned=True)),
                             ("default", lambda: run_torch(name, args.threads, args.seconds, tuned=False))):
                tokens_per_second, peak = run()
                samples[key].append(tokens_per_second)
                peaks[key].append(peak)
        median = {key: statistics.median(values) for key, values in samples.items()}
        peak_mb = {key: max(values) for key, values in peaks.items()}
        row = {"name": name, "threads": args.threads, "samples": samples, **median, "peak_rss_mb": peak_mb,
               "vs_tuned": median["nabla"] / median["tuned"], "vs_default": median["nabla"] / median["default"]}
        rows.append(row)
        peak_text = f"{peak_mb['nabla']:.0f}/{peak_mb['tuned']:.0f}/{peak_mb['default']:.0f}"
        print(f"{name:18} {row['nabla']:10.0f} {row['tuned']:12.0f} {row['default']:14.0f} "
              f"{row['vs_tuned']:8.2f}x {row['vs_default']:10.2f}x {peak_text:>28}", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": os.uname().nodename, "cpu_count": os.cpu_count(), "rows": rows}, out, indent=1)
    if args.svg:
        write_svg(args.svg, rows)


if __name__ == "__main__":
    main()
