#!/usr/bin/env python3
"""Makes the training fixtures: small models exported from PyTorch and what one
training step of each does in PyTorch, in float64.

For every case below, writes to test/training/fixtures/:

  NAME.onnx            the model, exported with torch.onnx.export (TorchScript
                       exporter, opset 17, training mode, no constant folding)
  NAME.safetensors     the batch (model inputs by name and "labels", float32 /
                       int64), and the reference of one step as "expected:loss",
                       "expected:grad.<initializer>" (the gradient of the mean
                       loss, before the update) and "expected:param.<initializer>"
                       (after the optimizer's update), and "expected:stat.<name>"
                       for BatchNorm's running statistics after the step,
                       computed by the same module
                       converted to float64 with torch.optim and stored as float32
  NAME.args            the `kiln step` options that select the same loss and
                       optimizer

and train-set.safetensors, a 40-example data set for mlp_relu ("input"
f32[40, 12], "labels" i64[40]) that the `kiln train` tests use.

Initializers are matched to parameters by name; one that equals one parameter
under another name (a tied head) gets its reference, and one that equals one
parameter transposed (how the exporter stores some MatMul weights) the
transposed reference. check-training.sh runs `kiln step` on every case and compares.

Needs torch, onnx, numpy and safetensors from PyPI (any venv; hf_gpt2 also
transformers and onnxscript; made with torch 2.15, transformers 5.24), run from the
repository root:  python test/training/make_fixtures.py [NAME...]  (only the
named cases, or all of them and the train set)
"""
import io
import math
import os
import warnings
from typing import List

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from safetensors.numpy import save_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
warnings.filterwarnings("ignore")


def mlp(act):
    return nn.Sequential(nn.Linear(12, 16), act, nn.Linear(16, 16), act, nn.Linear(16, 5))


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(12, 4), nn.Linear(4, 12)

    def forward(self, x):
        return torch.sigmoid(self.dec(torch.tanh(self.enc(x))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 5, padding=2), nn.Conv2d(4, 8, 5)
        self.f1, self.f2 = nn.Linear(8 * 5 * 5, 16), nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(F.relu(self.f1(x.flatten(1))))


class GPTBlock(nn.Module):
    """Token and position embeddings, one pre-LayerNorm block (causal
    attention masked with triu/masked_fill, GELU MLP), final LayerNorm, head."""

    def __init__(self, vocab=11, d=8, heads=2, seq=6):
        super().__init__()
        self.heads, self.seq = heads, seq
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        b, t = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(t))
        h = self.ln1(x)
        q, k, v = self.qkv(h).split(x.shape[-1], dim=-1)
        shape = (b, t, self.heads, -1)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        att = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        mask = torch.triu(torch.ones(t, t), diagonal=1).bool()
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.proj(y)
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return self.head(self.lnf(x))


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaBlock(nn.Module):
    """A LLaMA-style block: token embedding, RMSNorm, causal attention with
    rotary position embeddings (rotate-half; cos and sin computed in the
    graph, so they are not initializers), a SwiGLU MLP, no biases."""

    def __init__(self, vocab=11, d=8, heads=2, seq=6, hidden=12):
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, d)
        self.n1, self.n2, self.nf = RMSNorm(d), RMSNorm(d), RMSNorm(d)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down, self.head = nn.Linear(hidden, d, bias=False), nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        b, t = ids.shape
        x = self.tok(ids)
        h = self.n1(x)
        shape = (b, t, self.heads, -1)
        q, k, v = (w(h).reshape(shape).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        hd = q.shape[-1]
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.arange(t).float()[:, None] * inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1).to(q.dtype)
        cos, sin = emb.cos(), emb.sin()
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        att = q @ k.transpose(-2, -1) / math.sqrt(hd)
        mask = torch.triu(torch.ones(t, t), diagonal=1).bool()
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + self.wo((att @ v).transpose(1, 2).reshape(b, t, -1))
        h = self.n2(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.head(self.nf(x))


class HFGPT2(nn.Module):
    """Hugging Face's GPT2LMHeadModel (random weights from a config, nothing
    downloaded; dropout off, as kiln's masks are not PyTorch's): Conv1D
    projections, the tanh GELU, the tied embedding and head, HF's own
    causal mask."""

    def __init__(self):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(vocab_size=11, n_embd=8, n_layer=2, n_head=2, n_positions=6,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False,
                         bos_token_id=0, eos_token_id=0)
        self.model = GPT2LMHeadModel(cfg)

    def forward(self, ids):
        return self.model(ids).logits


class HFBert(nn.Module):
    """Hugging Face's BertForMaskedLM (random weights from a config; dropout
    and the padding index off): token, position and type embeddings, the
    attention mask arithmetic, the erf GELU, the MLM head tied to the word
    embedding."""

    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertForMaskedLM
        cfg = BertConfig(vocab_size=11, hidden_size=8, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=16,
                         max_position_embeddings=6, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0, use_cache=False)
        self.model = BertForMaskedLM(cfg)
        # PyTorch leaves the padding token's embedding row without gradient;
        # ONNX's Gather has no such notion, so kiln trains the row (as
        # PyTorch does without padding_idx).
        self.model.bert.embeddings.word_embeddings.padding_idx = None

    def forward(self, ids):
        return self.model(ids).logits


class HFLlama(nn.Module):
    """Hugging Face's LlamaForCausalLM (random weights from a config): its
    RMSNorm, rotary embeddings, grouped-query attention and SwiGLU MLP, its
    causal mask, an untied head."""

    def __init__(self):
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM
        cfg = LlamaConfig(vocab_size=11, hidden_size=8, intermediate_size=12,
                          num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=1, max_position_embeddings=6,
                          use_cache=False, bos_token_id=0, eos_token_id=0,
                          pad_token_id=None, tie_word_embeddings=False)
        self.model = LlamaForCausalLM(cfg)

    def forward(self, ids):
        return self.model(ids).logits


class HFQwen2(nn.Module):
    """Hugging Face's Qwen2ForCausalLM: LLaMA's block with biases on q, k
    and v, tied embedding and head."""

    def __init__(self):
        super().__init__()
        from transformers import Qwen2Config, Qwen2ForCausalLM
        cfg = Qwen2Config(vocab_size=11, hidden_size=8, intermediate_size=12,
                          num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=1, max_position_embeddings=6,
                          use_cache=False, tie_word_embeddings=True,
                          bos_token_id=0, eos_token_id=0, pad_token_id=None)
        self.model = Qwen2ForCausalLM(cfg)

    def forward(self, ids):
        return self.model(ids).logits


class HFViT(nn.Module):
    """Hugging Face's ViTForImageClassification (dropout off): patches by a
    strided convolution, the class token, position embeddings."""

    def __init__(self):
        super().__init__()
        from transformers import ViTConfig, ViTForImageClassification
        cfg = ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=8,
                        num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        num_labels=10)
        self.model = ViTForImageClassification(cfg)

    def forward(self, x):
        return self.model(x).logits


class HFCausal(nn.Module):
    """A Hugging Face language model from its config class and model class
    names (random weights; the caller turns dropout off in the config)."""

    def __init__(self, config, model, **kw):
        super().__init__()
        import transformers
        cfg = getattr(transformers, config)(vocab_size=11, use_cache=False, **kw)
        self.model = getattr(transformers, model)(cfg)
        # Padding rows train (ONNX has no padding_idx; see HFBert).
        for m in self.model.modules():
            if isinstance(m, nn.Embedding):
                m.padding_idx = None

    def forward(self, ids):
        return self.model(ids).logits


class HFImage(nn.Module):
    """A Hugging Face image classifier from its config and model class names."""

    def __init__(self, config, model, **kw):
        super().__init__()
        import transformers
        cfg = getattr(transformers, config)(num_labels=10, **kw)
        self.model = getattr(transformers, model)(cfg)

    def forward(self, x):
        return self.model(x).logits


def mobilenet():
    """torchvision's MobileNetV3-small at a quarter width (random weights):
    BatchNorm, HardSwish, squeeze-excitation, and its classifier's in-place
    Dropout, which the dynamo exporter writes as RandomUniformLike."""
    import torchvision
    return torchvision.models.mobilenet_v3_small(weights=None, num_classes=10,
                                                 width_mult=0.25)


M64 = (1 << 64) - 1


def kiln_random_bits(counter, seed):
    """runtime/src/kernel.h randomBits, on numpy uint64 arrays."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) +
             counter * np.uint64(0xD1B54A32D192ED03) + np.uint64(0x632BE59BD9B4E019))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def kiln_dropout_mask(shape, ratio, stream, step=1, seed=0):
    """The elements kiln.dropout_train keeps at training step `step` (the
    first is 1) of a run seeded with `seed`: the Trainer's step seed, the op's
    stream, each element's row-major index as the counter."""
    step_seed = int(kiln_random_bits(np.uint64(step), seed)) >> 1
    op_seed = (step_seed * (1 << 32) + stream) & M64
    counters = np.arange(int(np.prod(shape)), dtype=np.uint64)
    u = (kiln_random_bits(counters, op_seed) >> np.uint64(40)).astype(np.float64) * 2.0**-24
    return torch.tensor((u >= np.float32(ratio)).reshape(shape))


class PadCNN(nn.Module):
    """Convolutions between F.pad in reflect, replicate (ONNX edge) and
    constant modes, exported as Pad nodes."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 3, 3), nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        x = torch.tanh(self.c1(F.pad(x, (1, 1, 2, 0), mode="reflect")))
        x = torch.tanh(self.c2(F.pad(x, (1, 0, 0, 1), mode="replicate")))
        x = F.pad(x, (0, 1, 1, 0), value=0.5)
        return self.fc(x.flatten(1))


class UpsampleCNN(nn.Module):
    """A decoder's shape: a strided convolution down, nn.Upsample (nearest)
    back up, a skip connection joined by a concat."""

    def __init__(self):
        super().__init__()
        self.down, self.up = nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.Upsample(scale_factor=2)
        self.mix, self.fc = nn.Conv2d(5, 2, 3, padding=1), nn.Linear(2 * 8 * 8, 10)

    def forward(self, x):
        h = self.up(torch.relu(self.down(x)))
        return self.fc(torch.tanh(self.mix(torch.cat([h, x], 1))).flatten(1))


class EinsumAttention(nn.Module):
    """Attention written with torch.einsum (exported as ONNX Einsum nodes):
    scores, the weighted values, and a mean over positions."""

    def __init__(self):
        super().__init__()
        # (No bias on k: the softmax over keys cancels it, and Adam would
        # turn its zero gradient's rounding noise into a full step.)
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8, bias=False), nn.Linear(8, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        p = torch.softmax(torch.einsum("bqd,bkd->bqk", q, k) / 8 ** 0.5, -1)
        o = torch.einsum("bqk,bkd->bqd", p, v)
        return self.fc(torch.einsum("bqd->bd", torch.tanh(o)) / x.shape[1])


class TopKPool(nn.Module):
    """The three largest features of each row (torch.topk, exported as ONNX
    TopK): the gradient reaches only the features picked."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(3, 10)

    def forward(self, x):
        return self.fc2(torch.topk(torch.tanh(self.fc1(x)), 3, dim=-1).values)


class LSTMClassifier(nn.Module):
    """Two stacked bidirectional LSTM layers over a batch-first sequence
    (ONNX LSTM nodes, the exporter's gate reordering of PyTorch's weights
    in front), the last step's output classified."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


class GRUClassifier(nn.Module):
    """A GRU (ONNX GRU with linear_before_reset, as PyTorch computes it),
    its outputs averaged over time and its final state, classified."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 6, batch_first=True)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        out, h = self.gru(x)
        return self.fc(torch.cat([out.mean(1), h[0]], dim=-1))


class RNNClassifier(nn.Module):
    """An Elman RNN with ReLU, sequence first (ONNX RNN), its final state
    classified."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(8, 6, nonlinearity="relu")
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        return self.fc(self.rnn(x.transpose(0, 1))[1][0])


class ScriptedRNN(nn.Module):
    """A recurrence written as a Python loop over time and a branch on the
    data, scripted (torch.jit.script): ONNX Loop whose body reads the input
    and the shared weights from the outer graph, then an If on a run-time
    condition (kiln unrolls the one and selects between the branches of the
    other)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 6)
        self.step = nn.Linear(6, 6)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        h = x.new_zeros(x.size(0), 6)
        for t in range(x.size(1)):
            h = torch.tanh(self.inp(x[:, t]) + self.step(h))
        if bool(h.mean() > 0):
            h = h * 2
        else:
            h = -h
        return self.fc(h)


def scripted_rnn():
    return torch.jit.script(ScriptedRNN())


class ScriptedRNNList(ScriptedRNN):
    """ScriptedRNN's layers in a scripted loop that appends each step's
    state to a Python list, stacked after it (ONNX SequenceEmpty, a Loop
    carrying the sequence with SequenceInsert in its body,
    ConcatFromSequence), averaged over time."""

    def forward(self, x):
        h = x.new_zeros(x.size(0), 6)
        outs: List[torch.Tensor] = []
        for t in range(x.size(1)):
            h = torch.tanh(self.inp(x[:, t]) + self.step(h))
            outs.append(h)
        return self.fc(torch.stack(outs, 1).mean(1))


def scripted_rnn_list():
    return torch.jit.script(ScriptedRNNList())


class SpectrogramNet(nn.Module):
    """A log power spectrogram of a raw signal (torch.stft with a Hann
    window: ONNX STFT on a [batch, length] signal), classified; a learned
    gain on the signal, so that the gradient goes through the STFT."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(16))
        self.gain = nn.Parameter(torch.linspace(0.5, 1.5, 52))
        self.scale = nn.Parameter(torch.ones(9, 1))
        self.fc = nn.Linear(9 * 7, 10)

    def forward(self, x):
        s = torch.stft(x * self.gain, n_fft=16, hop_length=6, window=self.window,
                       center=False, return_complex=False)
        power = s.pow(2).sum(-1) * self.scale
        return self.fc(torch.log(power + 1e-3).flatten(1))


class ScatterMix(nn.Module):
    """Features written into a wider activation (Tensor.scatter and
    scatter_add along the features, exported as ONNX ScatterElements) and
    whole columns replaced by index assignment (ONNX ScatterND): the
    gradient reaches the updates, and the data only where nothing wrote."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(8, 3)
        self.fc3 = nn.Linear(12, 10)
        self.register_buffer("at", torch.tensor([[0, 5, 9]]).repeat(4, 1), persistent=False)
        self.register_buffer("again", torch.tensor([[5, 5, 11]]).repeat(4, 1), persistent=False)

    def forward(self, x):
        h, u = torch.tanh(self.fc1(x)), self.fc2(x)
        h = h.scatter(1, self.at, u).scatter_add(1, self.again, u * u)
        h = h.clone()
        h[:, 2] = u[:, 0]
        return self.fc3(h)


class PReLUCNN(nn.Module):
    """Learned leaky slopes (nn.PReLU, exported as ONNX PRelu): one per
    channel after a convolution, one for all after a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv, self.act1 = nn.Conv2d(1, 4, 3), nn.PReLU(4, init=0.1)
        self.fc1, self.act2 = nn.Linear(4 * 4 * 4, 16), nn.PReLU(init=0.3)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(self.act2(self.fc1(self.act1(self.conv(x)).flatten(1))))


class GridSampleNet(nn.Module):
    """A learned sampling grid (F.grid_sample, exported as ONNX GridSample,
    bilinear, zero padding; points past the border): the gradient reaches
    the features through the taps and the grid through their weights."""

    def __init__(self):
        super().__init__()
        self.conv, self.where = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(36, 3 * 3 * 2)
        self.fc = nn.Linear(2 * 3 * 3, 10)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        grid = torch.tanh(self.where(x.flatten(1))).reshape(-1, 3, 3, 2) * 1.2
        s = F.grid_sample(h, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return self.fc(s.flatten(1))


class InterpolateCNN(nn.Module):
    """Bilinear upsampling (nn.Upsample, ONNX Resize linear) and a bicubic
    resize to another size (F.interpolate, Resize cubic, align_corners)."""

    def __init__(self):
        super().__init__()
        self.conv, self.up = nn.Conv2d(1, 3, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear")
        self.fc = nn.Linear(3 * 5 * 5, 10)

    def forward(self, x):
        h = self.up(torch.tanh(self.conv(x)))
        h = F.interpolate(h, size=(5, 5), mode="bicubic", align_corners=True)
        return self.fc(h.flatten(1))


class DecoderCNN(nn.Module):
    """Transposed convolutions (ConvTranspose: stride 2 with output padding,
    then grouped) between convolutions."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(4, 2, 2, groups=2)
        self.fc = nn.Linear(2 * 9 * 9, 10)

    def forward(self, x):
        h = torch.tanh(self.up1(torch.relu(self.down(x))))
        return self.fc(torch.tanh(self.up2(h)).flatten(1))


class MaskDropout(nn.Module):
    """Dropout with a given mask: kiln's, so PyTorch's step is comparable."""

    def __init__(self, ratio, stream):
        super().__init__()
        self.ratio, self.stream = ratio, stream

    def forward(self, x):
        mask = kiln_dropout_mask(tuple(x.shape), self.ratio, self.stream)
        return x * mask.to(x.dtype) / (1 - self.ratio)


def kiln_uniform(shape, stream, step=1, seed=0):
    """What kiln.random_uniform draws in [0, 1) at training step `step` in
    stream `stream` (the same generator as dropout's, float32's 24 bits)."""
    step_seed = int(kiln_random_bits(np.uint64(step), seed)) >> 1
    op_seed = (step_seed * (1 << 32) + stream) & M64
    counters = np.arange(int(np.prod(shape)), dtype=np.uint64)
    u = (kiln_random_bits(counters, op_seed) >> np.uint64(40)).astype(np.float64) * 2.0**-24
    return torch.tensor(u.reshape(shape))


class UniformDropout(nn.Module):
    """In-place dropout as the dynamo exporter writes it (RandomUniformLike,
    kept where the draw is below 1 - p), with kiln's draws."""

    def __init__(self, ratio, stream):
        super().__init__()
        self.ratio, self.stream = ratio, stream

    def forward(self, x):
        keep = kiln_uniform(tuple(x.shape), self.stream) < 1 - self.ratio
        return x * keep.to(x.dtype) / (1 - self.ratio)


def mlp_dropout():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 16),
                         nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 5))


def mlp_dropout_inplace():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5, inplace=True),
                         nn.Linear(16, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 5))


# name: (module factory, input shape or "ids", loss, optimizer, options).
# Where a parameter's true gradient is zero (a bias before BatchNorm, the key
# bias of attention), float32 and float64 disagree on the rounding noise, and
# Adam's first step (about lr * g / (|g| + eps)) turns noise into a full step;
# those cases use eps 1e-4 so that the comparison tests kiln, not the noise.
CASES = {
    "mlp_relu": (lambda: mlp(nn.ReLU()), (8, 12), "cross_entropy", "adamw", {}),
    "mlp_tanh": (lambda: mlp(nn.Tanh()), (8, 12), "cross_entropy", "sgd", {"lr": 0.1}),
    "mlp_sigmoid": (lambda: mlp(nn.Sigmoid()), (8, 12), "cross_entropy", "momentum",
                    {"lr": 0.1, "momentum": 0.8}),
    "mlp_gelu": (lambda: mlp(nn.GELU()), (8, 12), "cross_entropy", "nesterov",
                 {"lr": 0.05, "momentum": 0.9}),
    "mlp_leaky_relu": (lambda: mlp(nn.LeakyReLU(0.1)), (8, 12), "cross_entropy", "adam",
                       {"lr": 0.01, "weight_decay": 0.1}),
    "mlp_elu": (lambda: mlp(nn.ELU()), (8, 12), "cross_entropy", "adamw",
                {"lr": 0.01, "grad_clip": 0.5}),
    "mlp_softplus": (lambda: mlp(nn.Softplus()), (8, 12), "cross_entropy", "sgd",
                     {"lr": 0.1, "weight_decay": 0.01}),
    "mlp_batchnorm": (lambda: nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                            nn.Linear(16, 5)),
                      (8, 12), "cross_entropy", "adamw", {"eps": 1e-4}),
    "autoencoder_mse": (Autoencoder, (8, 12), "mse", "adam", {"lr": 0.01}),
    # The reference applies kiln's dropout masks (MaskDropout), exported with
    # nn.Dropout so that the ONNX model has training-mode Dropout nodes.
    "mlp_dropout": (mlp_dropout, (8, 12), "cross_entropy", "adamw", {"lr": 0.01}),
    # The dynamo exporter writes in-place dropout as RandomUniformLike < 1 - p
    # (kiln.random_uniform, the step's seed, a stream after the Dropout
    # nodes') and the other as a Dropout node.
    "mlp_dropout_inplace": (mlp_dropout_inplace, (8, 12), "cross_entropy", "adamw",
                            {"lr": 0.01, "dynamo": True}),
    "gpt_block": (GPTBlock, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4}),
    "llama_block": (LlamaBlock, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4}),
    "hf_gpt2": (HFGPT2, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_bert": (HFBert, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_llama": (HFLlama, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_qwen2": (HFQwen2, "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_vit": (HFViT, (4, 3, 16, 16), "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_roberta": (lambda: HFCausal("RobertaConfig", "RobertaForMaskedLM", hidden_size=8,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, max_position_embeddings=10,
                                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                    pad_token_id=1, bos_token_id=0, eos_token_id=2),
                   "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_phi": (lambda: HFCausal("PhiConfig", "PhiForCausalLM", hidden_size=8,
                                intermediate_size=16, num_hidden_layers=1,
                                num_attention_heads=2, max_position_embeddings=6,
                                partial_rotary_factor=0.5, resid_pdrop=0.0, embd_pdrop=0.0,
                                attention_dropout=0.0, bos_token_id=0, eos_token_id=0),
               "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_convnext": (lambda: HFImage("ConvNextConfig", "ConvNextForImageClassification",
                                    num_channels=3, patch_size=4, num_stages=2, hidden_sizes=[8, 16],
                                    depths=[1, 1], drop_path_rate=0.0),
                    (4, 3, 16, 16), "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_bloom": (lambda: HFCausal("BloomConfig", "BloomForCausalLM", hidden_size=8, n_layer=1,
                                  n_head=2, hidden_dropout=0.0, attention_dropout=0.0,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=None),
                 "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_opt": (lambda: HFCausal("OPTConfig", "OPTForCausalLM", hidden_size=8, num_hidden_layers=1,
                                ffn_dim=16, num_attention_heads=2, max_position_embeddings=8,
                                word_embed_proj_dim=8, dropout=0.0, attention_dropout=0.0,
                                bos_token_id=0, eos_token_id=0, pad_token_id=1),
               "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_falcon": (lambda: HFCausal("FalconConfig", "FalconForCausalLM", hidden_size=8,
                                   num_hidden_layers=1, num_attention_heads=2,
                                   multi_query=True, parallel_attn=True, new_decoder_architecture=False,
                                   hidden_dropout=0.0, attention_dropout=0.0,
                                   bos_token_id=0, eos_token_id=0),
                  "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_wav2vec2": (lambda: HFImage("Wav2Vec2Config", "Wav2Vec2ForSequenceClassification",
                                    hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, conv_dim=(8, 8), conv_stride=(5, 2),
                                    conv_kernel=(10, 3), num_conv_pos_embeddings=4,
                                    num_conv_pos_embedding_groups=2, feat_extract_norm="group",
                                    hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                                    feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0,
                                    mask_time_prob=0.0, classifier_proj_size=8),
                    (4, 200), "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_gemma": (lambda: HFCausal("GemmaConfig", "GemmaForCausalLM", hidden_size=8,
                                  intermediate_size=12, num_hidden_layers=1, num_attention_heads=2,
                                  num_key_value_heads=1, head_dim=4, max_position_embeddings=6,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=None),
                 "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_gptj": (lambda: HFCausal("GPTJConfig", "GPTJForCausalLM", n_embd=8, n_layer=1, n_head=2,
                                 rotary_dim=2, n_positions=6, resid_pdrop=0.0, embd_pdrop=0.0,
                                 attn_pdrop=0.0, bos_token_id=0, eos_token_id=0),
                "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_neox": (lambda: HFCausal("GPTNeoXConfig", "GPTNeoXForCausalLM", hidden_size=8,
                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                 rotary_pct=0.5, max_position_embeddings=6, hidden_dropout=0.0,
                                 attention_dropout=0.0, bos_token_id=0, eos_token_id=0),
                "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_albert": (lambda: HFCausal("AlbertConfig", "AlbertForMaskedLM", embedding_size=4,
                                   hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=16, max_position_embeddings=6,
                                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                   classifier_dropout_prob=0.0, pad_token_id=0),
                  "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_distilbert": (lambda: HFCausal("DistilBertConfig", "DistilBertForMaskedLM", dim=8,
                                       n_layers=1, n_heads=2, hidden_dim=16,
                                       max_position_embeddings=6, dropout=0.0,
                                       attention_dropout=0.0, pad_token_id=0),
                      "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_mistral": (lambda: HFCausal("MistralConfig", "MistralForCausalLM", hidden_size=8,
                                    intermediate_size=12, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=1,
                                    max_position_embeddings=6, sliding_window=3,
                                    bos_token_id=0, eos_token_id=0, pad_token_id=None),
                   "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_mpt": (lambda: HFCausal("MptConfig", "MptForCausalLM", d_model=8, n_heads=2, n_layers=1,
                                expansion_ratio=2, max_seq_len=6, resid_pdrop=0.0, emb_pdrop=0.0,
                                attn_config={"attn_pdrop": 0, "alibi": True}),
               "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_electra": (lambda: HFCausal("ElectraConfig", "ElectraForMaskedLM", embedding_size=4,
                                    hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, max_position_embeddings=6,
                                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                    pad_token_id=0),
                   "ids", "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_deit": (lambda: HFImage("DeiTConfig", "DeiTForImageClassification", image_size=16,
                                patch_size=8, num_channels=3, hidden_size=8, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=16,
                                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                (4, 3, 16, 16), "cross_entropy", "adamw", {"lr": 0.01, "eps": 1e-4, "dynamo": True}),
    "hf_resnet": (lambda: HFImage("ResNetConfig", "ResNetForImageClassification", num_channels=3,
                                  embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                  layer_type="bottleneck", downsample_in_first_stage=False),
                  (4, 3, 32, 32), "cross_entropy", "sgd", {"lr": 0.1, "dynamo": True}),
    "tv_mobilenet": (mobilenet, (4, 3, 32, 32), "cross_entropy", "sgd",
                     {"lr": 0.1, "dynamo": True}),
    "decoder_cnn": (DecoderCNN, (4, 1, 8, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "upsample_cnn": (UpsampleCNN, (4, 1, 8, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "pad_cnn": (PadCNN, (4, 1, 6, 6), "cross_entropy", "sgd", {"lr": 0.1}),
    "einsum_attention": (EinsumAttention, (4, 6, 8), "cross_entropy", "adamw", {"lr": 0.01}),
    "topk_pool": (TopKPool, (4, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "scatter_mix": (ScatterMix, (4, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "prelu_cnn": (PReLUCNN, (4, 1, 6, 6), "cross_entropy", "adamw", {"lr": 0.01}),
    "grid_sample_net": (GridSampleNet, (4, 1, 6, 6), "cross_entropy", "sgd", {"lr": 0.1}),
    "interpolate_cnn": (InterpolateCNN, (4, 1, 4, 4), "cross_entropy", "sgd", {"lr": 0.1}),
    "lstm_classifier": (LSTMClassifier, (4, 5, 8), "cross_entropy", "adamw", {"lr": 0.01}),
    "gru_classifier": (GRUClassifier, (4, 5, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "rnn_classifier": (RNNClassifier, (4, 5, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "scripted_rnn": (scripted_rnn, (4, 5, 8), "cross_entropy", "sgd", {"lr": 0.1}),
    "scripted_rnn_list": (scripted_rnn_list, (4, 5, 8), "cross_entropy", "adamw", {"lr": 0.01}),
    "spectrogram_net": (SpectrogramNet, (4, 52), "cross_entropy", "sgd", {"lr": 0.1}),
    "lenet_maxpool": (LeNet, (4, 1, 28, 28), "cross_entropy", "sgd", {"lr": 0.1}),
}


def make_optimizer(kind, params, o):
    lr = o.get("lr", 1e-3)
    wd = o.get("weight_decay", 0.01 if kind == "adamw" else 0.0)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], weight_decay=wd,
                               nesterov=kind == "nesterov")
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=wd, eps=o.get("eps", 1e-8))


def kiln_args(loss, kind, o):
    args = ["--loss", loss]
    if kind == "nesterov":
        args += ["--optimizer", "momentum", "--nesterov"]
    else:
        args += ["--optimizer", kind]
    for key, flag in (("lr", "--lr"), ("momentum", "--momentum"), ("eps", "--eps"),
                      ("weight_decay", "--weight-decay"), ("grad_clip", "--grad-clip")):
        if key in o:
            args += [flag, repr(o[key])]
    return args


def main(names):
    os.makedirs(HERE, exist_ok=True)
    for name, (factory, shape, loss, kind, o) in CASES.items():
        if names and name not in names:
            continue
        torch.manual_seed(0)
        model = factory()
        gen = torch.Generator().manual_seed(1)
        if shape == "ids":
            x = torch.randint(0, 11, (2, 6), generator=gen)
            labels = torch.randint(0, 11, (2, 6), generator=gen)
        else:
            x = torch.randn(*shape, generator=gen)
            labels = (torch.rand(*shape, generator=gen) if loss == "mse"
                      else torch.randint(0, 5 if name.startswith("mlp") else 10,
                                         (shape[0],), generator=gen))
        model.train()
        if o.get("dynamo"):
            # PyTorch 2.x's exporter (what transformers models need), its
            # graph as traced: no optimization (which folds and merges).
            program = torch.onnx.export(model, (x,), dynamo=True, optimize=False,
                                        input_names=["input"], output_names=["logits"])
            proto = program.model_proto
            for n in proto.graph.node:  # Stack traces: most of the file.
                del n.metadata_props[:]
                n.doc_string = ""
        else:
            f = io.BytesIO()
            torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["logits"],
                              training=torch.onnx.TrainingMode.TRAINING,
                              do_constant_folding=False)
            proto = onnx.load_from_string(f.getvalue())
        onnx.checker.check_model(proto)
        onnx.save(proto, os.path.join(HERE, name + ".onnx"))

        # The reference step, in float64 (dropout with kiln's masks).
        ref = model.double()
        # Dropout layers (in the order they run, as kiln numbers them): a
        # Dropout node's stream first, then in-place ones' draws.
        layers = [(parent, attr, child) for parent in ref.modules()
                  for attr, child in parent.named_children()
                  if isinstance(child, nn.Dropout) and child.p > 0]
        dropouts = [x for x in layers if not x[2].inplace]
        draws = [x for x in layers if x[2].inplace]
        for stream, (parent, attr, child) in enumerate(dropouts):
            setattr(parent, attr, MaskDropout(child.p, stream))
        for stream, (parent, attr, child) in enumerate(draws, start=len(dropouts)):
            setattr(parent, attr, UniformDropout(child.p, stream))
        params = dict(ref.named_parameters())
        opt = make_optimizer(kind, list(params.values()), o)
        out = ref(x if shape == "ids" else x.double())
        if loss == "mse":
            value = F.mse_loss(out, labels.double())
        else:
            value = F.cross_entropy(out.reshape(-1, out.shape[-1]), labels.reshape(-1))
        opt.zero_grad()
        value.backward()
        grads = {k: p.grad.detach().clone() for k, p in params.items()}
        if "grad_clip" in o:
            torch.nn.utils.clip_grad_norm_(list(params.values()), o["grad_clip"])
        opt.step()

        tensors = {"input": x.numpy() if shape == "ids" else x.numpy().astype(np.float32),
                   "labels": labels.numpy().astype(np.float32) if loss == "mse"
                   else labels.numpy().astype(np.int64),
                   "expected:loss": np.array(value.item(), dtype=np.float32)}
        torch.manual_seed(0)
        before = {k: v.detach() for k, v in factory().named_parameters()}
        for init in proto.graph.initializer:
            value0 = numpy_helper.to_array(init)
            key, transpose = None, False
            if init.name in params:
                key = init.name
            else:
                # Another name for a parameter (a tied head is the
                # embedding), or the parameter transposed: the one parameter
                # of those values.
                same = [(k, False) for k, p in before.items()
                        if tuple(p.shape) == value0.shape and
                        np.array_equal(p.numpy().astype(value0.dtype), value0)]
                same += [(k, True) for k, p in before.items()
                         if p.dim() == 2 and tuple(p.shape[::-1]) == value0.shape and
                         np.array_equal(p.T.numpy().astype(value0.dtype), value0)]
                if len(same) == 1:
                    key, transpose = same[0]
            if key is None:
                continue
            g, p = grads[key], params[key].detach()
            if transpose:
                g, p = g.T, p.T
            tensors["expected:grad." + init.name] = g.numpy().astype(np.float32)
            tensors["expected:param." + init.name] = p.numpy().astype(np.float32)
        for key, buf in ref.named_buffers():
            if key.endswith("running_mean") or key.endswith("running_var"):
                tensors["expected:stat." + key] = buf.numpy().astype(np.float32)
        save_file(tensors, os.path.join(HERE, name + ".safetensors"))
        with open(os.path.join(HERE, name + ".args"), "w") as a:
            a.write(" ".join(kiln_args(loss, kind, o)) + "\n")
        print(f"{name}: {len(proto.graph.node)} nodes, loss {value.item():.6f}, "
              f"{sum(1 for k in tensors if k.startswith('expected:grad.'))} parameters")


def train_set():
    gen = torch.Generator().manual_seed(2)
    save_file({"input": torch.randn(40, 12, generator=gen).numpy(),
               "labels": torch.randint(0, 5, (40,), generator=gen).numpy().astype(np.int64)},
              os.path.join(os.path.dirname(HERE), "train-set.safetensors"))


if __name__ == "__main__":
    import sys
    # Names of cases: only those (and not the train set); none: everything.
    unknown = [n for n in sys.argv[1:] if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; cases: {', '.join(CASES)}")
    main(sys.argv[1:])
    if len(sys.argv) == 1:
        train_set()
