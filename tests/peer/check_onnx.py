"""Peer check of ONNX models emitted by edgenas.

For every case directory under CASES_DIR holding model.onnx, input.npy and tract.npy (the
output tract computed), prints one JSON line:
  {"case": name, "checker": "ok" | error text, "max_abs_diff": float, "max_abs_ref": float,
   "ort_shape": [...], "tract_shape": [...]}
The checker is onnx.checker.check_model(full_check=True); the reference output comes from
onnxruntime on one thread with graph optimizations disabled (so it runs the graph as written).
"""
import os

import numpy as np

from peer_common import checker_verdict, run_cases, session


def check(case_dir):
    model_path = os.path.join(case_dir, "model.onnx")
    result = {"case": os.path.basename(case_dir), "checker": checker_verdict(model_path)}
    sess = session(model_path, "none")
    x = np.load(os.path.join(case_dir, "input.npy"))
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    t = np.load(os.path.join(case_dir, "tract.npy"))
    result["ort_shape"] = list(y.shape)
    result["tract_shape"] = list(t.shape)
    if y.shape == t.shape:
        result["max_abs_diff"] = float(np.max(np.abs(y.astype(np.float64) - t.astype(np.float64))))
        result["max_abs_ref"] = float(np.max(np.abs(y)))
    return result


if __name__ == "__main__":
    run_cases(check)
