#!/usr/bin/python3
"""Make small PyTorch-exported versions of the three benchmark models.

Writes three files to test/onnx/fixtures/ (and touches nothing else there):

  mlp_small.onnx  MLP  Linear-ReLU-Linear-ReLU-Linear, 16->32->32->10, input f32[4,16]
  cnn_small.onnx  ResNet-18 structure (CIFAR stem conv3x3+BN+ReLU, BasicBlocks, 1x1-conv
                  shortcut, adaptive avg pool, flatten, Linear) with two stages of one
                  BasicBlock each, (8, stride 1) then (16, stride 2); input f32[2,3,8,8],
                  10 classes
  gpt_small.onnx  GPT block stack, vocab 64, d 32, 4 heads, 2 layers, seq 16; input i64[2,16]

The model classes are copied from the benchmark's bench/torch_baseline.py (MLP, BasicBlock,
ResNet18, Block, attention, GPT) with their sizes made parameters, so the graphs have the
same structure and op set as the full-size benchmark exports but tiny weights. The
copy is deliberate: the test suite must not depend on the benchmark tree. Keep the
`attention` fallback exactly as the benchmark has it: PyTorch < 2.0 (Debian's 1.13) has
no F.scaled_dot_product_attention, so the export uses the explicit masked_fill/triu/softmax
form, as the benchmark's own export does on Debian.

Each model is exported as torch_baseline.py's export() does: torch.manual_seed(0),
model.train(), opset 17, input "input", output "logits", TrainingMode.TRAINING,
do_constant_folding=False. Inputs are made as its workload() does (randn for mlp/cnn,
randint token ids for gpt) from a torch.Generator seeded with 0. Every file is then
loaded and checked with onnx.checker.check_model, and its op-type counts and graph
inputs/outputs are printed.

Rerun from the repository root with Debian's Python, python3-torch (1.13) and
python3-onnx (1.12):

    /usr/bin/python3 test/onnx/make_torch_fixtures.py

The output is deterministic: the same torch and onnx versions give byte-identical files.
make_fixtures.py leaves these *_small.onnx files alone when it rewrites the
other fixtures.
"""

import collections
import os
import sys
import warnings

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.join(HERE, "fixtures")


# --- Copied from bench/torch_baseline.py, sizes made parameters -----------------------------

class MLP(nn.Module):
    def __init__(self, din=784, hidden=1024, classes=10):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(din, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet18(nn.Module):
    # stages: (cout, stride) per stage; blocks: BasicBlocks per stage. The benchmark uses
    # stem 64, stages (64,1),(128,2),(256,2),(512,2) and 2 blocks per stage.
    def __init__(self, classes=10, stem=64, stages=((64, 1), (128, 2), (256, 2), (512, 2)), blocks=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU())
        layers, cin = [], stem
        for cout, stride in stages:
            layers += [BasicBlock(cin, cout, stride)] + [BasicBlock(cout, cout, 1) for _ in range(blocks - 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = attention(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


def attention(q, k, v):
    """Causal attention; the explicit form is for PyTorch builds older than 2.0."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    t = q.shape[-2]
    s = (q @ k.transpose(-2, -1)) / (q.shape[-1] ** 0.5)
    s = s.masked_fill(torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


class GPT(nn.Module):
    def __init__(self, vocab=4096, d=512, heads=8, layers=4, seq=256):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.head(self.ln(self.blocks(self.tok(idx) + self.pos(pos))))


# --- Small workloads -----------------------------------------------------------------------

def workload(name):
    """(model, input), made in the same order as torch_baseline.workload()."""
    g = torch.Generator(device="cpu").manual_seed(0)
    if name == "mlp_small":
        return MLP(16, 32, 10), torch.randn(4, 16, generator=g)
    if name == "cnn_small":
        return (ResNet18(classes=10, stem=8, stages=((8, 1), (16, 2)), blocks=1),
                torch.randn(2, 3, 8, 8, generator=g))
    if name == "gpt_small":
        vocab, seq = 64, 16
        return GPT(vocab=vocab, d=32, heads=4, layers=2, seq=seq), torch.randint(0, vocab, (2, seq), generator=g)
    raise SystemExit(f"unknown workload {name!r}")


def describe(vi):
    t = vi.type.tensor_type
    dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return f"{vi.name}: {onnx.TensorProto.DataType.Name(t.elem_type).lower()}[{','.join(dims)}]"


def main():
    if hasattr(F, "scaled_dot_product_attention"):
        print("warning: this torch has F.scaled_dot_product_attention; gpt_small will not match the "
              "Debian (torch 1.13) export", file=sys.stderr)
    # Expected in training-mode export: BatchNorm's num_batches_tracked update is dropped.
    warnings.filterwarnings("ignore", message="ONNX Preprocess - Removing mutation from node aten::add_")
    os.makedirs(OUTDIR, exist_ok=True)
    for name in ("mlp_small", "cnn_small", "gpt_small"):
        torch.manual_seed(0)
        model, x = workload(name)
        model.train()
        path = os.path.join(OUTDIR, f"{name}.onnx")
        torch.onnx.export(model, (x,), path, opset_version=17, input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
        m = onnx.load(path)
        onnx.checker.check_model(m)
        ops = collections.Counter(n.op_type for n in m.graph.node)
        print(f"{os.path.relpath(path)}  {os.path.getsize(path)} bytes")
        print("  inputs:  " + "; ".join(describe(v) for v in m.graph.input))
        print("  outputs: " + "; ".join(describe(v) for v in m.graph.output))
        print("  ops:     " + ", ".join(f"{k}={v}" for k, v in sorted(ops.items())))


if __name__ == "__main__":
    sys.exit(main())
