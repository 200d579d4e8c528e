"""Peer check of a quantized model against its f32 original, by onnxruntime alone.

Usage: check_agreement.py F32.onnx QUANTIZED.onnx INPUTS.npy [TRACT_OUTPUTS.npy]
Runs both models in onnxruntime with graph optimizations off (the graphs as written: QDQ
runs as f32 with fake quantization, so onnxruntime's saturating u8 x s8 kernels on CPUs
without VNNI play no part) on every input of INPUTS.npy ([N, C, H, W], one at a time) and
prints one JSON line:
  {"checker": "ok" | error, "inputs": N, "top1_agreement": fraction of inputs whose argmax
   agrees, "max_rel_error": max |q - f| / max |f| over all outputs,
   "output_step": (max f - min(min f, 0)) / 255, the step of a uint8 quantization of the f32
   outputs over their range, and, when TRACT_OUTPUTS.npy (tract's outputs of QUANTIZED.onnx
   on the same inputs, [N, ...]) is given, "max_abs_vs_tract": max |q - t|, and
   "within_step_vs_tract": the fraction of inputs whose outputs all lie within output_step
   of tract's, and "values_within_step_vs_tract": the fraction of output values within one
   step of tract's, the step being the scale of QUANTIZED.onnx's output DequantizeLinear
   when it has one (its outputs are multiples of it), else output_step (both with a 1e-6
   relative slack for float rounding)}
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from peer_common import checker_verdict, session


def output_dequantize_scale(path):
    """The scale of the DequantizeLinear that writes the model's first output, or None."""
    graph = onnx.load(path).graph
    out = graph.output[0].name
    producer = next((n for n in graph.node if out in n.output), None)
    if producer is None or producer.op_type != "DequantizeLinear":
        return None
    inits = {i.name: i for i in graph.initializer}
    scale = inits.get(producer.input[1])
    return None if scale is None else float(numpy_helper.to_array(scale).reshape(-1)[0])


def main():
    f32_path, q_path, inputs_path = sys.argv[1:4]
    x = np.load(inputs_path)
    full = session(f32_path, "none")
    quant = session(q_path, "none")
    name_f = full.get_inputs()[0].name
    name_q = quant.get_inputs()[0].name
    ys_f, ys_q = [], []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        ys_f.append(full.run(None, {name_f: xi})[0].astype(np.float64))
        ys_q.append(quant.run(None, {name_q: xi})[0].astype(np.float64))
    yf = np.concatenate(ys_f)
    yq = np.concatenate(ys_q)
    agree = float(np.mean(np.argmax(yf, axis=-1) == np.argmax(yq, axis=-1)))
    rel = float(np.max(np.abs(yq - yf)) / max(np.max(np.abs(yf)), 1e-12))
    result = {
        "checker": checker_verdict(q_path),
        "inputs": int(x.shape[0]),
        "top1_agreement": agree,
        "max_rel_error": rel,
        "output_step": float((np.max(yf) - min(np.min(yf), 0.0)) / 255.0),
    }
    if len(sys.argv) > 4:
        tract = np.load(sys.argv[4]).astype(np.float64).reshape(yq.shape)
        per_input = np.max(np.abs(yq - tract).reshape(yq.shape[0], -1), axis=1)
        result["max_abs_vs_tract"] = float(np.max(per_input))
        step = result["output_step"] * (1 + 1e-6)
        result["within_step_vs_tract"] = float(np.mean(per_input <= step))
        value_step = output_dequantize_scale(q_path) or result["output_step"]
        result["values_within_step_vs_tract"] = float(np.mean(np.abs(yq - tract) <= value_step * (1 + 1e-6)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
