"""Peer check of int8 models written by `edgenas quantize`.

For every case directory under CASES_DIR holding model.onnx, probe.onnx (the same model with
intermediate tensors exposed as extra outputs), input.npy, tract_<k>.npy (tract's k-th output
of the probe) and ort_level ("all": onnxruntime fuses QDQ into its integer kernels; "none": it
runs the graph as written), prints one JSON line:
  {"case": name, "checker": "ok" | error text, "max_abs_diff": [per output], "max_abs_ref": [...]}
The checker (onnx.checker.check_model(full_check=True)) reads model.onnx; onnxruntime runs
probe.onnx on one thread.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(case_dir):
    model_path = os.path.join(case_dir, "model.onnx")
    result = {"case": os.path.basename(case_dir)}
    try:
        onnx.checker.check_model(onnx.load(model_path), full_check=True)
        result["checker"] = "ok"
    except Exception as e:  # the test asserts on this text
        result["checker"] = f"{type(e).__name__}: {e}"
    with open(os.path.join(case_dir, "ort_level")) as f:
        level = f.read().strip()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    sess = ort.InferenceSession(os.path.join(case_dir, "probe.onnx"), opts, providers=["CPUExecutionProvider"])
    x = np.load(os.path.join(case_dir, "input.npy"))
    ys = sess.run(None, {sess.get_inputs()[0].name: x})
    result["max_abs_diff"] = []
    result["max_abs_ref"] = []
    for k, y in enumerate(ys):
        t = np.load(os.path.join(case_dir, f"tract_{k}.npy"))
        if y.shape != t.shape:
            result["max_abs_diff"].append(None)
            result["max_abs_ref"].append(None)
            continue
        result["max_abs_diff"].append(float(np.max(np.abs(y.astype(np.float64) - t.astype(np.float64)))))
        result["max_abs_ref"].append(float(np.max(np.abs(y))))
    return result


def main():
    cases_dir = sys.argv[1]
    for name in sorted(os.listdir(cases_dir)):
        path = os.path.join(cases_dir, name)
        if os.path.isdir(path):
            print(json.dumps(check(path)), flush=True)


if __name__ == "__main__":
    main()
