"""Side-by-side single-thread latency: tract (through `edgenas bench`) vs onnxruntime.

Both measured in the same run, interleaved per model, on the same ONNX file emitted by
`edgenas export`. Prints a table of medians and the tract/onnxruntime ratio, and the
per-candidate pipeline time (`edgenas bench-pipeline`). Not a test: numbers vary with the
machine; quote them with the machine they came from.

Usage: .venv/bin/python benches/latency_vs_onnxruntime.py [--edgenas target/release/edgenas]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort



def ort_latency(path, repeats_cap_s=3.0, warmup=5, min_runs=10, spread_target=0.05):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    feed = {inp.name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    samples = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        sess.run(None, feed)
        samples.append((time.perf_counter() - t0) * 1e3)
        if len(samples) >= min_runs and len(samples) % 10 == 0:
            p10, med, p90 = np.percentile(samples, [10, 50, 90])
            if (p90 - p10) / med <= spread_target or time.perf_counter() - start > repeats_cap_s:
                break
    p10, med, p90 = np.percentile(samples, [10, 50, 90])
    return {"median": med, "p10": p10, "p90": p90, "n": len(samples)}


def tract_latency(edgenas, path):
    out = subprocess.run([edgenas, "bench", path, "--threads", "1", "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["latency"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgenas", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "edgenas"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        nb = os.path.join(tmp, "nb201_6111.onnx")
        subprocess.run([args.edgenas, "export", "--nb201-index", "6111", "--out", nb], check=True)
        models["NB201 arch 6111 (32x32)"] = nb
        mb_json = os.path.join(tmp, "mbv2.json")
        genome = subprocess.run([args.edgenas, "space", "mobilenet-v2", "--width", "0.35", "--resolution", "96", "--classes", "1000"],
                                check=True, capture_output=True, text=True).stdout
        with open(mb_json, "w") as f:
            f.write(genome)
        mb = os.path.join(tmp, "mbv2_035_96.onnx")
        subprocess.run([args.edgenas, "export", "--arch", mb_json, "--out", mb], check=True)
        models["MobileNetV2-0.35-96"] = mb
        print(f"{'model':<26} {'tract ms':>10} {'ort ms':>10} {'tract/ort':>10}")
        for name, path in models.items():
            tract_meds, ort_meds = [], []
            for _ in range(args.rounds):
                tract_meds.append(tract_latency(args.edgenas, path)["median"])
                ort_meds.append(ort_latency(path)["median"])
            t, o = float(np.median(tract_meds)), float(np.median(ort_meds))
            print(f"{name:<26} {t:>10.4f} {o:>10.4f} {t / o:>10.2f}")
        for name, src in [("NB201 arch 6111", ["--nb201-index", "6111"]), ("MobileNetV2-0.35-96", ["--arch", mb_json])]:
            out = subprocess.run([args.edgenas, "bench-pipeline", *src, "--json"], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout)
            print(f"pipeline {name}: build IR {r['build_ir_ms']:.3f} ms, lower {r['lower_ms']:.3f}, emit {r['emit_ms']:.3f}, "
                  f"tract load {r['load_ms']:.3f}, optimize {r['optimize_ms']:.3f}, total {r['total_ms']:.3f} ms (medians of {r['repeat']})")


if __name__ == "__main__":
    main()
