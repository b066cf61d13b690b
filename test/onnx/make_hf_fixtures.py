#!/usr/bin/env python3
"""Make test/onnx/fixtures/hf/: tiny Hugging Face BERT and GPT-2 models (random
weights from configs; nothing is downloaded) and torchvision's MobileNetV3-small,
exported by PyTorch 2.x's dynamo exporter with optimize=False, in train mode.

They carry what the dynamo exporter writes for ordinary transformers and CNNs:
attention-mask arithmetic (And, Max, GatherND, CumSum, IsNaN, Where), Gelu,
train-mode dropout as RandomUniformLike, HardSigmoid/HardSwish, opset 20, and
external weight files. The sizes are cut down (vocab 128, hidden 32, a
quarter-width MobileNet on 32x32 images) to keep the files small.

PyTorch 2.x, transformers and torchvision come from PyPI:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch onnxscript onnx transformers torchvision
    /tmp/torchenv/bin/python test/onnx/make_hf_fixtures.py

Made with torch 2.15, transformers 5.24 and torchvision 0.29.
"""

import collections
import os
import sys
import warnings

import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.join(HERE, "fixtures", "hf")


def bert():
    from transformers import BertConfig, BertForMaskedLM
    cfg = BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=32, use_cache=False, return_dict=False)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 128, (2, 16), generator=g)
    return BertForMaskedLM(cfg), (ids, torch.ones(2, 16, dtype=torch.int64))


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    # (return_dict=False breaks GPT2LMHeadModel in transformers 5.x.)
    cfg = GPT2Config(vocab_size=128, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                     use_cache=False, bos_token_id=0, eos_token_id=0)
    g = torch.Generator().manual_seed(0)
    return GPT2LMHeadModel(cfg), (torch.randint(0, 128, (2, 16), generator=g),)


def mobilenet():
    import torchvision
    model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10, width_mult=0.25)
    g = torch.Generator().manual_seed(0)
    return model, (torch.randn(2, 3, 32, 32, generator=g),)


def main():
    print(f"torch {torch.__version__}, onnx {onnx.__version__}")
    warnings.filterwarnings("ignore")
    os.makedirs(OUTDIR, exist_ok=True)
    for stale in os.listdir(OUTDIR):
        os.remove(os.path.join(OUTDIR, stale))
    for name, build in (("bert_tiny", bert), ("gpt2_tiny", gpt2), ("mobilenet_v3_tiny", mobilenet)):
        torch.manual_seed(0)
        model, args = build()
        model.train()
        path = os.path.join(OUTDIR, name + ".onnx")
        torch.onnx.export(model, args, path, dynamo=True, optimize=False, external_data=True)
        m = onnx.load(path)
        onnx.checker.check_model(m)
        for n in m.graph.node:  # Stack traces and FX names: most of the file.
            del n.metadata_props[:]
            n.doc_string = ""
        os.remove(path + ".data")
        onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=name + ".onnx.data", size_threshold=1024)
        ops = collections.Counter(n.op_type for n in m.graph.node)
        print(f"{os.path.relpath(path)}: " + ", ".join(f"{k}={v}" for k, v in sorted(ops.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
