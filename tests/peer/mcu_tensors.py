"""Every int8 activation of an integer-only QDQ model, as onnxruntime computes it.

Usage: mcu_tensors.py MODEL.onnx INPUT.npy NAMES.txt OUT_DIR

NAMES.txt lists quantized tensors of MODEL (QuantizeLinear outputs), one per line.
onnxruntime runs MODEL as written (ORT_DISABLE_ALL: float ops between the quantize and
dequantize nodes, no fused integer kernels) on the one input [1, C, H, W], and
OUT_DIR/t<i>.npy gets line i's tensor in the microcontroller backend's convention: int8
(uint8 values minus 128), channels last ([H, W, C] for maps, [K] for vectors), stored as
float32.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper


def main():
    model_path, input_path, names_path, out_dir = sys.argv[1:5]
    names = [line for line in open(names_path).read().splitlines() if line]
    model = onnx.load(model_path)
    elem_type = {}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            zp = next((t for t in model.graph.initializer if len(n.input) > 2 and t.name == n.input[2]), None)
            elem_type[n.output[0]] = zp.data_type if zp is not None else onnx.TensorProto.UINT8
    del model.graph.output[:]
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, elem_type[name], None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = np.load(input_path).astype(np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, value) in enumerate(zip(names, outputs)):
        v = value.astype(np.int32)
        if elem_type[name] == onnx.TensorProto.UINT8:
            v = v - 128
        if v.ndim == 4:
            v = v[0].transpose(1, 2, 0)
        else:
            v = v.reshape(-1)
        np.save(os.path.join(out_dir, f"t{i}.npy"), v.astype(np.float32))


if __name__ == "__main__":
    main()
