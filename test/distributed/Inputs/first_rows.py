#!/usr/bin/env python3
"""first_rows.py IN.safetensors OUT.safetensors N NAME... - the tensors NAME of
IN, cut to their first N rows (standard library only): one rank's share of a
batch, to show that a rank's own gradients differ from the data-parallel
average."""
import json
import struct
import sys

src, dst, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = set(sys.argv[4:])
with open(src, "rb") as f:
    (size,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(size))
    data = f.read()
out_header, chunks, at = {}, [], 0
for name, info in header.items():
    if name not in names:
        continue
    begin, end = info["data_offsets"]
    shape = info["shape"]
    total = shape[0] if shape else 1
    row_bytes = (end - begin) // total if total else 0
    keep = data[begin:begin + row_bytes * rows] if shape else data[begin:end]
    out_header[name] = {"dtype": info["dtype"],
                        "shape": ([rows] + shape[1:]) if shape else shape,
                        "data_offsets": [at, at + len(keep)]}
    chunks.append(keep)
    at += len(keep)
blob = json.dumps(out_header).encode()
blob += b" " * (-len(blob) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))
