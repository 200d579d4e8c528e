"""Trains an ONNX classifier written by `edgenas export` on a synthetic image task, in JAX.

The task ("prototypes"): each of the model's classes has a fixed smooth random image; a
sample is its class's image, cyclically shifted by up to an eighth of the side, scaled by a
contrast in [0.7, 1.3], plus N(0, noise^2) pixel noise. The images are a pure function of
(--task-seed, the input shape, the class count), so the calibration and evaluation sets
written here come from the distribution the model was trained on.

The graph is interpreted as written (Conv with groups, pads, strides and dilations, Relu,
Clip, Add, Mul, Sigmoid, AveragePool, MaxPool, GlobalAveragePool, BatchNormalization in
inference form, Flatten, Reshape, Gemm, MatMul); the FLOAT initializers that hold weights
(Conv, Gemm and MatMul operands, BatchNormalization's scale and bias) are trained with Adam
(cross-entropy; the learning rate rises linearly over the first tenth of the steps, then
decays as a cosine) and written back in place, so the trained model has the same graph,
names and opset as the input.

Usage:
  train_synthetic.py MODEL.onnx --out TRAINED.onnx [--steps 300] [--batch 32] [--lr 3e-3]
      [--seed 0] [--task-seed 0] [--noise 0.3] [--calib-out C.npy] [--calib-count 500]
      [--test-out T.npy] [--test-count 500] [--eval-count 1000]

--calib-out and --test-out write [N, C, H, W] f32 .npy files of fresh task samples (for
`edgenas quantize --calib`, and for checking a quantized model on inputs it never saw).

Prints one JSON line last: {"accuracy": <top-1 % on --eval-count fresh samples>,
"onnx": <TRAINED.onnx>, "loss": <final training loss>, "steps": n}, the protocol of
`edgenas search --evaluator command`, e.g.
  --evaluator command --command ".venv/bin/python scripts/train_synthetic.py {onnx}
  --out {workdir}/trained.onnx --steps 100"
Progress goes to stderr. An op outside the list above is an error naming it.
"""
import argparse
import json
import math
import sys

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

import jax
import jax.numpy as jnp

jax.config.update("jax_platforms", "cpu")


class TaskError(Exception):
    pass


def prototypes(task_seed, shape, classes):
    """One smooth random image per class, [classes, C, H, W], each with unit variance."""
    c, h, w = shape
    rng = np.random.default_rng([task_seed, 0x70726F74])
    coarse = rng.standard_normal((classes, c, 4, 4))
    ys = np.linspace(0, 3, h)
    xs = np.linspace(0, 3, w)
    y0 = np.clip(np.floor(ys).astype(int), 0, 2)
    x0 = np.clip(np.floor(xs).astype(int), 0, 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = coarse[:, :, y0][:, :, :, x0]
    b = coarse[:, :, y0][:, :, :, x0 + 1]
    cc = coarse[:, :, y0 + 1][:, :, :, x0]
    d = coarse[:, :, y0 + 1][:, :, :, x0 + 1]
    img = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * cc + fx * d)
    img -= img.mean(axis=(1, 2, 3), keepdims=True)
    img /= img.std(axis=(1, 2, 3), keepdims=True)
    return img.astype(np.float32)


def samples(protos, n, noise, rng):
    """`n` samples of the task and their labels, drawn with `rng`."""
    classes, _, h, w = protos.shape
    labels = rng.integers(0, classes, n)
    dy = rng.integers(-(h // 8), h // 8 + 1, n)
    dx = rng.integers(-(w // 8), w // 8 + 1, n)
    contrast = rng.uniform(0.7, 1.3, n).astype(np.float32)
    x = np.empty((n,) + protos.shape[1:], np.float32)
    for i in range(n):
        x[i] = np.roll(protos[labels[i]], (dy[i], dx[i]), axis=(1, 2)) * contrast[i]
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    return x, labels


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pool_window(x, node, reducer, init):
    a = attrs(node)
    k = list(a["kernel_shape"])
    s = list(a.get("strides", [1] * len(k)))
    p = list(a.get("pads", [0] * 2 * len(k)))
    pads = [(0, 0), (0, 0)] + [(p[i], p[i + len(k)]) for i in range(len(k))]
    window = (1, 1) + tuple(k)
    strides = (1, 1) + tuple(s)
    out = jax.lax.reduce_window(x, init, reducer, window, strides, pads)
    if reducer is jax.lax.add:
        if a.get("count_include_pad", 0):
            out = out / float(np.prod(k))
        else:
            ones = jnp.ones((1, 1) + x.shape[2:], x.dtype)
            out = out / jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pads)
    return out


def run_node(node, ins):
    op = node.op_type
    a = attrs(node)
    if op == "Conv":
        x, w = ins[0], ins[1]
        k = w.shape[2:]
        p = list(a.get("pads", [0] * 2 * len(k)))
        y = jax.lax.conv_general_dilated(
            x,
            w,
            window_strides=tuple(a.get("strides", [1] * len(k))),
            padding=[(p[i], p[i + len(k)]) for i in range(len(k))],
            rhs_dilation=tuple(a.get("dilations", [1] * len(k))),
            feature_group_count=a.get("group", 1),
        )
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2].reshape((1, -1) + (1,) * len(k))
        return y
    if op == "Relu":
        return jax.nn.relu(ins[0])
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min", -np.inf)
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max", np.inf)
        return jnp.clip(ins[0], lo, hi)
    if op == "Add":
        return ins[0] + ins[1]
    if op == "Mul":
        return ins[0] * ins[1]
    if op == "Sigmoid":
        return jax.nn.sigmoid(ins[0])
    if op == "AveragePool":
        return pool_window(ins[0], node, jax.lax.add, 0.0)
    if op == "MaxPool":
        return pool_window(ins[0], node, jax.lax.max, -np.inf)
    if op == "GlobalAveragePool":
        return jnp.mean(ins[0], axis=tuple(range(2, ins[0].ndim)), keepdims=True)
    if op == "BatchNormalization":
        x, scale, bias, mean, var = ins
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv = scale / jnp.sqrt(var + a.get("epsilon", 1e-5))
        return (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)
    if op == "Flatten":
        axis = a.get("axis", 1)
        return ins[0].reshape((int(np.prod(ins[0].shape[:axis])), -1))
    if op == "Reshape":
        shape = [int(v) for v in np.asarray(ins[1])]
        shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return ins[0].reshape(shape)
    if op == "Gemm":
        x, w = ins[0], ins[1]
        if a.get("transA", 0):
            x = x.T
        if a.get("transB", 0):
            w = w.T
        y = a.get("alpha", 1.0) * (x @ w)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return y
    if op == "MatMul":
        return ins[0] @ ins[1]
    raise TaskError(f"node {node.name!r}: op {op} is not supported by this trainer")


SUPPORTED_OPS = (
    "Conv", "Relu", "Clip", "Add", "Mul", "Sigmoid", "AveragePool", "MaxPool",
    "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Gemm", "MatMul",
)
# The input positions of each op that hold weights; every other initializer (Clip bounds,
# BatchNormalization's running statistics, Reshape shapes, Add/Mul constants) stays fixed.
TRAINED_INPUTS = {"Conv": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1), "BatchNormalization": (1, 2)}


class Interpreter:
    """The model's graph as a function of (trainable params, fixed constants, input)."""

    def __init__(self, model):
        g = model.graph
        self.graph = g
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        trained = set()
        for n in g.node:
            if n.op_type not in SUPPORTED_OPS:
                raise TaskError(f"node {n.name!r}: op {n.op_type} is not supported by this trainer")
            trained.update(n.input[i] for i in TRAINED_INPUTS.get(n.op_type, ()) if i < len(n.input))
        self.params = {k: v for k, v in inits.items() if v.dtype == np.float32 and k in trained}
        self.consts = {k: v for k, v in inits.items() if k not in self.params}
        init_names = set(inits)
        real_inputs = [i for i in g.input if i.name not in init_names]
        if len(real_inputs) != 1 or len(g.output) != 1:
            raise TaskError("the trainer needs a model with one input and one output")
        self.input = real_inputs[0]
        dims = [d.dim_value for d in self.input.type.tensor_type.shape.dim]
        if len(dims) != 4 or any(v <= 0 for v in dims[1:]):
            raise TaskError(f"input {self.input.name!r} must be [N, C, H, W] with fixed C, H, W, got {dims}")
        self.sample_shape = tuple(dims[1:])
        self.output = g.output[0].name

    def __call__(self, params, x):
        env = {self.input.name: x}
        env.update({k: jnp.asarray(v) for k, v in self.consts.items()})
        env.update(params)
        for n in self.graph.node:
            ins = [env[i] if i else None for i in n.input]
            env[n.output[0]] = run_node(n, ins)
        return env[self.output]


def train(model, args):
    net = Interpreter(model)
    probe = jax.eval_shape(lambda p, x: net(p, x), net.params, jnp.zeros((1,) + net.sample_shape, jnp.float32))
    classes = probe.shape[-1]
    protos = prototypes(args.task_seed, net.sample_shape, classes)
    data_rng = np.random.default_rng([args.seed, 1])

    def loss_fn(params, x, y):
        logits = net(params, x)
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    @jax.jit
    def step(params, m, v, t, lr, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        m = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
        v = jax.tree.map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
        bc1 = 1 - 0.9 ** t
        bc2 = 1 - 0.999 ** t
        params = jax.tree.map(lambda p, a, b: p - lr * (a / bc1) / (jnp.sqrt(b / bc2) + 1e-8), params, m, v)
        return params, m, v, loss

    predict = jax.jit(lambda p, x: jnp.argmax(net(p, x), axis=-1))
    params = {k: jnp.asarray(v) for k, v in net.params.items()}
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    loss = float("nan")
    warmup = max(1, args.steps // 10)
    for t in range(1, args.steps + 1):
        lr = args.lr * min(1.0, t / warmup) * 0.5 * (1 + math.cos(math.pi * (t - 1) / args.steps))
        x, y = samples(protos, args.batch, args.noise, data_rng)
        params, m, v, loss = step(params, m, v, float(t), lr, jnp.asarray(x), jnp.asarray(y))
        if t % 50 == 0 or t == args.steps:
            print(f"step {t}/{args.steps} loss {float(loss):.4f}", file=sys.stderr, flush=True)
    eval_rng = np.random.default_rng([args.seed, 2])
    correct = 0
    for start in range(0, args.eval_count, 100):
        x, y = samples(protos, min(100, args.eval_count - start), args.noise, eval_rng)
        correct += int(np.sum(np.asarray(predict(params, jnp.asarray(x))) == y))
    for t in model.graph.initializer:
        if t.name in params:
            t.CopyFrom(numpy_helper.from_array(np.asarray(params[t.name], np.float32), t.name))
    for path, count, stream in ((args.calib_out, args.calib_count, 3), (args.test_out, args.test_count, 4)):
        if path:
            x, _ = samples(protos, count, args.noise, np.random.default_rng([args.seed, stream]))
            np.save(path, x)
    return 100.0 * correct / max(args.eval_count, 1), float(loss)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task-seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--calib-out")
    p.add_argument("--calib-count", type=int, default=500)
    p.add_argument("--test-out")
    p.add_argument("--test-count", type=int, default=500)
    p.add_argument("--eval-count", type=int, default=1000)
    args = p.parse_args()
    try:
        model = onnx.load(args.model)
        acc, loss = train(model, args)
    except (TaskError, OSError, ValueError, DecodeError) as e:
        print(f"error: {args.model}: {e}", file=sys.stderr)
        sys.exit(1)
    onnx.save(model, args.out)
    print(json.dumps({"accuracy": acc, "onnx": args.out, "loss": loss, "steps": args.steps}))


if __name__ == "__main__":
    main()
