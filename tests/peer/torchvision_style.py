"""Builds small ONNX models in the style of PyTorch exports of torchvision networks, with
onnx.helper and seeded random weights, for the precision tests (tests/peer_torchvision.rs):

  mbv2.onnx    MobileNetV2-like: Conv + BatchNormalization + Clip(0, 6) stem, an inverted
               residual (1x1 expand, depthwise 3x3, 1x1 project, Add), GlobalAveragePool,
               Reshape by an int64 shape initializer, Gemm (transB = 1).
  mbv3.onnx    MobileNetV3-like: HardSwish, a squeeze-excitation block (GlobalAveragePool,
               Conv, Relu, Conv, HardSigmoid, Mul), flatten spelled Shape -> Gather ->
               Unsqueeze -> Concat -> Reshape, Gemm, Softmax.
  resnet.onnx  ResNet-like: input scaled by Div and Mul with Constant nodes, Pad, Conv +
               BatchNormalization + Relu, MaxPool, a basic block with its residual Add, a
               channel Concat and Slice, Transpose there and back, ReduceMean (keepdims=1)
               + Squeeze, Gemm.

usage: torchvision_style.py OUT_DIR"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(11)
OPSET = 17


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, array, stem="c"):
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, groups=1, pad=None, bias=False):
        pad = k // 2 if pad is None else pad
        w = RNG.normal(0.0, np.sqrt(2.0 / (cin // groups * k * k)), (cout, cin // groups, k, k)).astype(np.float32)
        inputs = [x, self.const(w, "w")]
        if bias:
            inputs.append(self.const(RNG.uniform(-0.1, 0.1, cout).astype(np.float32), "b"))
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=groups)

    def bn(self, x, c):
        params = [
            RNG.uniform(0.5, 1.5, c),
            RNG.uniform(-0.2, 0.2, c),
            RNG.uniform(-0.2, 0.2, c),
            RNG.uniform(0.5, 1.5, c),
        ]
        return self.op("BatchNormalization", [x] + [self.const(p.astype(np.float32), "bn") for p in params], epsilon=1e-5)

    def relu6(self, x):
        return self.op("Clip", [x, self.const(np.float32(0.0), "min"), self.const(np.float32(6.0), "max")])

    def gemm(self, x, cin, cout):
        w = RNG.normal(0.0, np.sqrt(1.0 / cin), (cout, cin)).astype(np.float32)
        b = RNG.uniform(-0.1, 0.1, cout).astype(np.float32)
        return self.op("Gemm", [x, self.const(w, "fc_w"), self.const(b, "fc_b")], transB=1)

    def model(self, output, resolution, classes):
        g = helper.make_graph(
            self.nodes,
            "torchvision_style",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, resolution, resolution])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, classes])],
            self.inits,
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pytorch-style")
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m


def mbv2():
    g = Graph()
    x = g.relu6(g.bn(g.conv("input", 3, 16, 3, stride=2), 16))
    h = g.relu6(g.bn(g.conv(x, 16, 64, 1), 64))
    h = g.relu6(g.bn(g.conv(h, 64, 64, 3, groups=64), 64))
    h = g.bn(g.conv(h, 64, 16, 1), 16)
    x = g.op("Add", [x, h])
    x = g.relu6(g.bn(g.conv(x, 16, 32, 1), 32))
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Reshape", [x, g.const(np.array([1, -1], dtype=np.int64), "shape")])
    return g.model(g.gemm(x, 32, 10), 32, 10)


def mbv3():
    g = Graph()
    x = g.op("HardSwish", [g.bn(g.conv("input", 3, 16, 3, stride=2), 16)])
    h = g.op("HardSwish", [g.bn(g.conv(x, 16, 48, 1), 48)])
    h = g.op("HardSwish", [g.bn(g.conv(h, 48, 48, 5, groups=48), 48)])
    s = g.op("GlobalAveragePool", [h])
    s = g.op("Relu", [g.conv(s, 48, 12, 1, bias=True)])
    s = g.op("HardSigmoid", [g.conv(s, 12, 48, 1, bias=True)], alpha=1.0 / 6.0, beta=0.5)
    h = g.op("Mul", [h, s])
    x = g.op("Add", [x, g.bn(g.conv(h, 48, 16, 1), 16)])
    x = g.op("GlobalAveragePool", [x])
    shape = g.op("Shape", [x])
    batch = g.op("Gather", [shape, g.const(np.array(0, dtype=np.int64), "zero")], axis=0)
    batch = g.op("Unsqueeze", [batch, g.const(np.array([0], dtype=np.int64), "axes")])
    dims = g.op("Concat", [batch, g.const(np.array([-1], dtype=np.int64), "minus_one")], axis=0)
    x = g.op("Reshape", [x, dims])
    x = g.gemm(x, 16, 10)
    return g.model(g.op("Softmax", [x], axis=1), 32, 10)


def resnet():
    g = Graph()
    scaled = g.op("Div", ["input", g.op("Constant", [], value=numpy_helper.from_array(np.float32(2.0)))])
    scaled = g.op("Mul", [scaled, g.op("Constant", [], value_float=1.5)])
    x = g.op("Pad", [scaled, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64), "pads")], mode="constant")
    x = g.op("Relu", [g.bn(g.conv(x, 3, 16, 3, pad=0), 16)])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    h = g.op("Relu", [g.bn(g.conv(x, 16, 16, 3), 16)])
    h = g.bn(g.conv(h, 16, 16, 3), 16)
    x = g.op("Relu", [g.op("Add", [x, h])])
    both = g.op("Concat", [g.conv(x, 16, 8, 1), g.conv(x, 16, 8, 3)], axis=1)
    x = g.op("Slice", [both, g.const(np.array([0], dtype=np.int64), "start"), g.const(np.array([12], dtype=np.int64), "end"),
                       g.const(np.array([1], dtype=np.int64), "axis")])
    x = g.op("Transpose", [g.op("Transpose", [x], perm=[0, 2, 3, 1])], perm=[0, 3, 1, 2])
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=1)
    x = g.op("Squeeze", [x, g.const(np.array([2, 3], dtype=np.int64), "squeeze")])
    return g.model(g.gemm(x, 12, 10), 32, 10)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, build in [("mbv2", mbv2), ("mbv3", mbv3), ("resnet", resnet)]:
        onnx.save(build(), os.path.join(out, f"{name}.onnx"))
        print(name)


if __name__ == "__main__":
    main()
