"""A stand-in for a training script, for examples/command_trainer.toml.

Reads the genome JSON and the ONNX path edgenas passes, "trains" by computing a
deterministic pseudo-accuracy from the architecture (more conv edges score higher), and
prints the JSON line edgenas reads: {"accuracy": <float>}. A real trainer would train the
architecture and may also name a trained ONNX file: {"accuracy": 91.2, "onnx": "trained.onnx"}.
"""
import argparse
import json
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--arch", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--workdir", required=True)
args = ap.parse_args()

genome = json.load(open(args.arch))
if not os.path.exists(args.model):
    print(f"model {args.model} missing", file=sys.stderr)
    sys.exit(2)
arch = genome.get("arch", "")
score = 50.0 + 10.0 * arch.count("nor_conv_3x3") + 5.0 * arch.count("nor_conv_1x1") + 2.0 * arch.count("skip_connect")
print(f"epoch 1/1 done for {os.path.basename(args.model)}", file=sys.stderr)
print(json.dumps({"accuracy": min(score, 99.0)}))
