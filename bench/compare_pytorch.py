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
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def torch_worker(name, threads, seconds):
    """Runs in a child process: times one configuration in PyTorch, prints tokens/s as JSON."""
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
        if name not in CONFIGS:
            raise SystemExit(f"compare_pytorch.py: unknown config '{name}' ({', '.join(CONFIGS)})")
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
