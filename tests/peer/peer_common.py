"""Shared parts of the peer checks: the ONNX checker verdict, a one-thread onnxruntime
session, and the loop over case directories."""
import json
import os
import sys

import onnx
import onnxruntime as ort

LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def checker_verdict(model_path):
    """"ok" if onnx.checker.check_model(full_check=True) accepts the model, else the error
    as "<type>: <message>" (the tests assert on this text)."""
    try:
        onnx.checker.check_model(onnx.load(model_path), full_check=True)
        return "ok"
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def session(model_path, level):
    """A CPU onnxruntime session on one intra-op and one inter-op thread; `level` is a key
    of LEVELS ("none" runs the graph as written)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = LEVELS[level]
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


def run_cases(check):
    """Calls `check(case_dir)` on every directory under argv[1], in name order, and prints
    each result as one JSON line."""
    cases_dir = sys.argv[1]
    for name in sorted(os.listdir(cases_dir)):
        path = os.path.join(cases_dir, name)
        if os.path.isdir(path):
            print(json.dumps(check(path)), flush=True)
