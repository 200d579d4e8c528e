"""Peer check of ONNX models emitted by edgenas.

For every case directory under CASES_DIR holding model.onnx, input.npy and tract.npy (the
output tract computed), prints one JSON line:
  {"case": name, "checker": "ok" | error text, "max_abs_diff": float, "max_abs_ref": float,
   "ort_shape": [...], "tract_shape": [...]}
The checker is onnx.checker.check_model(full_check=True); the reference output comes from
onnxruntime on one thread with graph optimizations disabled (so it runs the graph as written).
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
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    x = np.load(os.path.join(case_dir, "input.npy"))
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    t = np.load(os.path.join(case_dir, "tract.npy"))
    result["ort_shape"] = list(y.shape)
    result["tract_shape"] = list(t.shape)
    if y.shape == t.shape:
        result["max_abs_diff"] = float(np.max(np.abs(y.astype(np.float64) - t.astype(np.float64))))
        result["max_abs_ref"] = float(np.max(np.abs(y)))
    return result


def main():
    cases_dir = sys.argv[1]
    for name in sorted(os.listdir(cases_dir)):
        path = os.path.join(cases_dir, name)
        if os.path.isdir(path):
            print(json.dumps(check(path)), flush=True)


if __name__ == "__main__":
    main()
