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

# ---- attention and the GPT: the rows attention_forward/*, attention_train/* and gpt_train/* of bench_cuda ----
# Same shapes, float32, TF32 off, causal. PyTorch picks its own fused kernel for float32 (the memory-efficient
# one where available; FlashAttention-2 itself takes only fp16/bf16), printed below as sdpa_backend.
import torch.nn.functional as F
have_sdpa = hasattr(F, "scaled_dot_product_attention")

def attend(q, k, v):
    if have_sdpa:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return scores.softmax(-1) @ v

def best_ms(fn, prepare=lambda: None, reps=5, n=20):
    for _ in range(3): prepare(); fn()
    torch.cuda.synchronize()
    best = 1e9
    for _ in range(reps):
        total = 0.0
        for _ in range(n):
            prepare(); torch.cuda.synchronize(); t0 = time.perf_counter(); fn(); torch.cuda.synchronize()
            total += time.perf_counter() - t0
        best = min(best, total / n)
    return best * 1e3

print("sdpa_backend", "F.scaled_dot_product_attention" if have_sdpa else "composed (no sdpa in this torch)")
for name, (B, H, T, D) in {"gpt2_124M": (8, 12, 1024, 64), "gpt_S": (32, 4, 64, 32), "gpt_M": (8, 6, 256, 64)}.items():
    g = torch.Generator(device=dev).manual_seed(0)
    q, k, v, do = (torch.randn(B, H, T, D, device=dev, generator=g) for _ in range(4))
    flops = 2.0 * B * H * T * T * D  # 4 B H T^2 D, halved by the causal mask
    with torch.no_grad():
        ms = best_ms(lambda: attend(q, k, v))
    print(f"torch attention_forward/{name}: {ms:.3f} ms, {flops / ms * 1e-9:.2f} TFLOP/s")
    for t in (q, k, v): t.requires_grad_(True)
    def clear():
        for t in (q, k, v): t.grad = None
    ms = best_ms(lambda: attend(q, k, v).backward(do), clear)
    print(f"torch attention_train/{name}: {ms:.3f} ms, {3.5 * flops / ms * 1e-9:.2f} TFLOP/s")

class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        x = x + self.c_proj(attend(q, k, v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln_2(x))

class GPT(nn.Module):
    def __init__(self, V, T, layers, heads, width):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, width), nn.Embedding(T, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks: x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()  # the head tied to the token embedding

for name, (V, T, layers, heads, width, B) in {"S": (10000, 64, 4, 4, 128, 32), "M": (10000, 256, 6, 6, 384, 8)}.items():
    torch.manual_seed(0)
    model = GPT(V, T, layers, heads, width).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B, T), device=dev); y = torch.randint(0, V, (B, T), device=dev)
    def step():
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
    ms = best_ms(step)
    print(f"torch gpt_train/{name}: {ms:.3f} ms/step, {B * T / ms * 1e3:,.0f} tokens/s (synchronised per step)")
