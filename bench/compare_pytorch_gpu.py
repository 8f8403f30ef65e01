#!/usr/bin/env python3
"""PyTorch on the GPU for the language models of bench/lm_models.hpp, the reference for bench_cuda's lm_*
rows (docs/performance.md, GPU). Batch 32 x 35 steps, cross-entropy over every step, Adam; cuDNN's LSTM;
TF32 off like nabla. Times 5 x 100 back-to-back steps after 20 warm-up steps, keeps the best.

    python3 bench/compare_pytorch_gpu.py      # needs torch with CUDA and a GPU
"""
# PyTorch on the GPU, the models of bench/lm_models.hpp (batch 32 x 35 steps, CE over every step, Adam).
import time, sys
import torch, torch.nn as nn
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
configs = {"S": (1000, 64, 128, 1), "L": (10000, 128, 256, 1)}
for name, (V, E, H, layers) in configs.items():
    torch.manual_seed(0)
    emb, lstm, dec = nn.Embedding(V, E).to(dev), nn.LSTM(E, H, num_layers=layers, batch_first=True).to(dev), nn.Linear(H, V).to(dev)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randint(0, V, (32, 35), device=dev); y = torch.randint(0, V, (32, 35), device=dev)
    def step():
        out, _ = lstm(emb(x)); loss = nn.functional.cross_entropy(dec(out).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
    def infer():
        with torch.no_grad():
            out, _ = lstm(emb(x)); dec(out)
    for label, fn in (("train", step), ("inference", infer)):
        for _ in range(20): fn()
        torch.cuda.synchronize()
        best = 1e9
        for rep in range(5):
            n = 100; t0 = time.perf_counter()
            for _ in range(n): fn()
            torch.cuda.synchronize(); best = min(best, (time.perf_counter() - t0) / n)
        print(f"torch lm_{label}/{name}: {best*1e3:.3f} ms/step, {32*35/best:,.0f} tokens/s (best of 5 x 100 steps, cudnn LSTM, TF32 off)")
