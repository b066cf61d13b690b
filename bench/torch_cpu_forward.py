#!/usr/bin/env python3
"""PyTorch's CPU forward time for a benchmark workload, the baseline
kiln's CPU numbers are compared with (bench/run-cpu-bench.sh).

    python3 bench/torch_cpu_forward.py BENCH_SCRIPT WORKLOAD

BENCH_SCRIPT is ../shared/bench/torch_baseline.py (its models and inputs are
used as they are). Prints one JSON line: workload, mode "torch-cpu-forward"
(eager, no_grad), ms_per_step (median of 5 windows of 20), threads.
"""
import importlib.util
import json
import statistics
import sys
import time

import torch

spec = importlib.util.spec_from_file_location("baseline", sys.argv[1])
baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baseline)
name = sys.argv[2]
torch.manual_seed(0)
model, x, _, _ = baseline.workload(name, "cpu")
model.eval()
with torch.no_grad():
    for _ in range(5):
        model(x)
    windows = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            model(x)
        windows.append((time.perf_counter() - t0) / 20 * 1e3)
print(json.dumps(dict(workload=name, mode="torch-cpu-forward", device="cpu",
                      threads=torch.get_num_threads(), torch=torch.__version__,
                      ms_per_step=round(statistics.median(windows), 4),
                      ms_windows=[round(w, 4) for w in windows])))
