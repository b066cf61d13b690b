#!/usr/bin/env python3
"""Make test/runtime/fixtures/reference.safetensors with the reference
implementation (the `safetensors` package from PyPI, with numpy), so that the
runtime's reader is tested against files other tools write, not only its own.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install safetensors numpy
    /tmp/venv/bin/python test/runtime/make_fixtures.py

The tensors (and their values, which SafeTensorsTest.cpp checks):
  f32  float32 [2, 3]  = arange(6) / 4
  f64  float64 [3]     = [0.5, -1.0, 1e300]
  i64  int64   [2, 2]  = [[1, -2], [2**40, -(2**40)]]
  i32  int32   []      = 7
  u8   uint8   [4]     = [0, 1, 254, 255]
  flag bool    [3]     = [True, False, True]
  f16  float16 [2]     = [1.5, -0.25]
  empty float32 [0, 4]
and metadata {"format": "pt", "producer": "make_fixtures.py"}.
"""
import os

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))

tensors = {
    "f32": (np.arange(6, dtype=np.float32) / 4).reshape(2, 3),
    "f64": np.array([0.5, -1.0, 1e300], dtype=np.float64),
    "i64": np.array([[1, -2], [2**40, -(2**40)]], dtype=np.int64),
    "i32": np.array(7, dtype=np.int32),
    "u8": np.array([0, 1, 254, 255], dtype=np.uint8),
    "flag": np.array([True, False, True]),
    "f16": np.array([1.5, -0.25], dtype=np.float16),
    "empty": np.zeros((0, 4), dtype=np.float32),
}
os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
save_file(tensors, os.path.join(HERE, "fixtures", "reference.safetensors"),
          metadata={"format": "pt", "producer": "make_fixtures.py"})
print("wrote fixtures/reference.safetensors")
