"""NASWOT computed independently of edgenas: onnxruntime runs the probe model (the network
with every ReLU output exposed after its main outputs, graph as written) on the given
input batch, and numpy builds the kernel K_H = c c^T + (1 - c)(1 - c)^T of the binary
activation codes c (> 0) and takes its log-determinant (slogdet).

usage: naswot.py PROBE.onnx INPUT.npy MAIN_OUTPUTS
prints {"score": ..., "sign": ..., "units": ..., "kernel_min": ..., "kernel_max": ...}"""
import json
import sys

import numpy as np

from peer_common import session


def main():
    model, inputs, main_outputs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    x = np.load(inputs)
    sess = session(model, "none")
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
    batch = x.shape[0]
    codes = np.concatenate([o.reshape(batch, -1) > 0 for o in outputs[main_outputs:]], axis=1).astype(np.float64)
    kernel = codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
    sign, logdet = np.linalg.slogdet(kernel)
    print(json.dumps({
        "score": float(logdet),
        "sign": float(sign),
        "units": int(codes.shape[1]),
        "kernel_min": float(kernel.min()),
        "kernel_max": float(kernel.max()),
    }))


if __name__ == "__main__":
    main()
