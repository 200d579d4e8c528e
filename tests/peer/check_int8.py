"""Peer check of int8 models written by `edgenas quantize`.

For every case directory under CASES_DIR holding model.onnx, probe.onnx (the same model with
intermediate tensors exposed as extra outputs), input.npy, tract_<k>.npy (tract's k-th output
of the probe) and ort_level ("all": onnxruntime fuses QDQ into its integer kernels; "none": it
runs the graph as written), prints one JSON line:
  {"case": name, "checker": "ok" | error text, "max_abs_diff": [per output], "max_abs_ref": [...]}
The checker (onnx.checker.check_model(full_check=True)) reads model.onnx; onnxruntime runs
probe.onnx on one thread.
"""
import os

import numpy as np

from peer_common import checker_verdict, run_cases, session


def check(case_dir):
    model_path = os.path.join(case_dir, "model.onnx")
    result = {"case": os.path.basename(case_dir), "checker": checker_verdict(model_path)}
    with open(os.path.join(case_dir, "ort_level")) as f:
        level = f.read().strip()
    sess = session(os.path.join(case_dir, "probe.onnx"), level)
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


if __name__ == "__main__":
    run_cases(check)
