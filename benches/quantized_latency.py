"""Latency of each precision and int8 layout, tract vs onnxruntime, and quantization time
against onnxruntime.quantization.quantize_static, all in the same run.

For NB201 arch 6111 and MobileNetV2-0.35-96 (both exported with calibrated BatchNorm
statistics): the f32 model, fp16 (`edgenas quantize --to fp16`), int8 QDQ and int8
QOperator (`--to int8 --format qdq|qoperator`, 7-bit weights so onnxruntime's x86 kernels do
not saturate), each timed single-threaded by `edgenas bench` (tract) and by onnxruntime
(graph optimizations on, so QDQ runs in its integer kernels), interleaved over --rounds.
Quantization time: `edgenas quantize` (its report's quantize_seconds: load, calibration,
rewrite) vs quantize_static (per-channel, QDQ, QUInt8 activations, QInt8 weights, MinMax)
on the same calibration array. Not a test: quote the numbers with the machine.

Usage: .venv/bin/python benches/quantized_latency.py [--edgenas target/release/edgenas]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

sys.path.insert(0, os.path.dirname(__file__))
from latency_vs_onnxruntime import ort_latency, tract_latency  # noqa: E402

CALIB_INPUTS = 100


class ArrayReader(CalibrationDataReader):
    def __init__(self, name, array):
        self.items = iter([{name: a[None]} for a in array])

    def get_next(self):
        return next(self.items, None)


def export(edgenas, tmp):
    nb = os.path.join(tmp, "nb201_6111.onnx")
    subprocess.run([edgenas, "export", "--nb201-index", "6111", "--out", nb], check=True, capture_output=True)
    genome = subprocess.run([edgenas, "space", "mobilenet-v2", "--width", "0.35", "--resolution", "96"],
                            check=True, capture_output=True, text=True).stdout
    mb_json = os.path.join(tmp, "mbv2.json")
    with open(mb_json, "w") as f:
        f.write(genome)
    mb = os.path.join(tmp, "mbv2_035_96.onnx")
    subprocess.run([edgenas, "export", "--arch", mb_json, "--out", mb], check=True, capture_output=True)
    return {"NB201 arch 6111": nb, "MobileNetV2-0.35-96": mb}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgenas", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "edgenas"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, f32 in export(args.edgenas, tmp).items():
            model = onnx.load(f32)
            inp = model.graph.input[0]
            shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
            calib = np.random.default_rng(0).standard_normal([CALIB_INPUTS] + shape[1:]).astype(np.float32)
            calib_path = os.path.join(tmp, "calib.npy")
            np.save(calib_path, calib)
            variants = {"f32": f32}
            ours = {}
            for label, flags in [("fp16", ["--to", "fp16"]),
                                 ("int8 qdq", ["--to", "int8", "--format", "qdq", "--reduce-range"]),
                                 ("int8 qoperator", ["--to", "int8", "--format", "qoperator", "--reduce-range"])]:
                out = os.path.join(tmp, label.replace(" ", "_") + ".onnx")
                report = out + ".json"
                subprocess.run([args.edgenas, "quantize", f32, *flags, "--calib", calib_path, "--out", out,
                                "--report", report], check=True, capture_output=True)
                variants[label] = out
                with open(report) as f:
                    ours[label] = json.load(f)
            ort_q = os.path.join(tmp, "ort_qdq.onnx")
            t0 = time.perf_counter()
            quantize_static(f32, ort_q, ArrayReader(inp.name, calib), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
            ort_seconds = time.perf_counter() - t0
            variants["int8 ort quantize_static"] = ort_q

            print(f"\n{name}: single thread, medians over {args.rounds} rounds")
            print(f"{'variant':<26} {'tract ms':>10} {'ort ms':>10} {'tract/ort':>10} {'x f32 (tract)':>14}")
            rows = {}
            for label, path in variants.items():
                t_meds, o_meds = [], []
                for _ in range(args.rounds):
                    t_meds.append(tract_latency(args.edgenas, path)["median"])
                    o_meds.append(ort_latency(path)["median"])
                rows[label] = (float(np.median(t_meds)), float(np.median(o_meds)))
            for label, (t, o) in rows.items():
                print(f"{label:<26} {t:>10.3f} {o:>10.3f} {t / o:>10.2f} {t / rows['f32'][0]:>14.2f}")
            q = ours["int8 qdq"]
            print(f"quantize time, {CALIB_INPUTS} calibration inputs: edgenas {q['quantize_seconds']:.2f} s "
                  f"vs onnxruntime quantize_static {ort_seconds:.2f} s (ratio {q['quantize_seconds'] / ort_seconds:.2f})")
            for label in ["fp16", "int8 qdq", "int8 qoperator"]:
                f = ours[label]["fidelity"]["held_out"]
                print(f"fidelity {label} (held-out {f['inputs']}): SQNR {f['sqnr_db']:.1f} dB, "
                      f"max rel {f['max_rel_error']:.2e}, top-1 {100 * f['top1_agreement']:.0f}%")


if __name__ == "__main__":
    main()
