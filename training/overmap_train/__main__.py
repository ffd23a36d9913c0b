"""python3 -m overmap_train <classifier|segmenter|detector|export|evaluate> [flags]

  classifier  --train DIR[,DIR…] --val DIR[,DIR…] --out DIR [--guidance λ] [--epochs N] …
  segmenter   --train DIR[,DIR…] --val DIR[,DIR…] --out DIR [--epochs N] …
  detector    --train DIR[,DIR…] --val DIR[,DIR…] --out DIR [--epochs N] …  (one box per image)
  export      --checkpoint FILE.pt --kind classifier|segmenter|detector --onnx FILE.onnx [--widths …]
  evaluate    --checkpoint FILE.pt --kind classifier|segmenter|detector --data DIR[,DIR…] [--widths …]

DIR: scenes written by `npm run make:scenes -- DIR --split S --count N --masks` (ImageFolder
layout, masks in DIR-masks). Every choice is made on --val; test and shifted splits are only
measured (`evaluate`)."""

from __future__ import annotations

import argparse
import os
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from .augment import AugmentSettings
from .data import SceneSet, load_scenes, to_tensors
from .export import export_classifier, export_detector, export_segmenter, sha256
from .models import BoxRegressor, CbamResNet, UNet
from .train import (
    TrainSettings, evaluate_classifier, evaluate_detector, evaluate_segmenter, seed_everything, train_classifier,
    train_detector, train_segmenter,
)


def _dirs(value: str) -> list[str]:
    return [d for d in value.split(",") if d]


def _widths(value: str) -> list[int]:
    return [int(v) for v in value.split(",")]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python3 -m overmap_train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for kind in ("classifier", "segmenter", "detector"):
        t = sub.add_parser(kind)
        t.add_argument("--train", type=_dirs, required=True)
        t.add_argument("--val", type=_dirs, required=True)
        t.add_argument("--out", required=True)
        t.add_argument("--epochs", type=int, default=20)
        t.add_argument("--batch", type=int, default=128)
        t.add_argument("--lr", type=float, default=0.1 if kind == "classifier" else 0.05)
        t.add_argument("--weight-decay", type=float, default=5e-4 if kind == "classifier" else 1e-4)
        t.add_argument("--warmup-epochs", type=float, default=1.0)
        t.add_argument("--seed", type=int, default=1)
        t.add_argument("--threads", type=int, default=2)
        t.add_argument("--widths", type=_widths, default=[32, 64, 128, 256] if kind == "classifier" else [16, 32, 64, 128])
        t.add_argument("--limit", type=int, default=0, help="use only the first N training scenes (smoke runs)")
        t.add_argument("--name", default="")
        t.add_argument("--min-scale", type=float, default=AugmentSettings.scale[0])
        if kind == "classifier":
            t.add_argument("--guidance", type=float, default=0.0, help="weight of the guided-attention loss (0: unguided)")
    for verb in ("export", "evaluate"):
        e = sub.add_parser(verb)
        e.add_argument("--checkpoint", required=True)
        e.add_argument("--kind", choices=["classifier", "segmenter", "detector"], required=True)
        e.add_argument("--widths", type=_widths)
        if verb == "export":
            e.add_argument("--onnx", required=True)
        else:
            e.add_argument("--data", type=_dirs, required=True, action="append")
            e.add_argument("--record", help="also write the figures, the checkpoint's ONNX hash and PyTorch's outputs "
                           "for the first --fixture scenes of each set to this JSON file (the committed-model test reads it)")
            e.add_argument("--onnx", help="the exported model whose sha256 the record names")
            e.add_argument("--fixture", type=int, default=8)
    a = p.parse_args(argv)

    if a.command in ("classifier", "segmenter", "detector"):
        settings = TrainSettings(
            kind=a.command, train=a.train, val=a.val, out=a.out, epochs=a.epochs, batch=a.batch, lr=a.lr,
            weight_decay=a.weight_decay, warmup_epochs=a.warmup_epochs, guidance=getattr(a, "guidance", 0.0), seed=a.seed,
            threads=a.threads, widths=a.widths, limit=a.limit, name=a.name,
            augment=asdict(AugmentSettings(scale=(a.min_scale, AugmentSettings.scale[1]))),
        )
        sets = [load_scenes(d) for d in a.train]
        train = sets[0]
        for s in sets[1:]:
            train = train.concat(s)
        settings.scenes = {Path(d).name: len(s) for d, s in zip(a.train, sets)}
        if a.limit:
            train = train.take(a.limit)
        val = {Path(d).name: load_scenes(d) for d in a.val}
        trainers = {"classifier": train_classifier, "segmenter": train_segmenter, "detector": train_detector}
        trainers[a.command](settings, train, val)  # type: ignore[operator]
        return 0

    seed_everything(1, 2)
    if a.kind == "classifier":
        model: torch.nn.Module = CbamResNet(widths=tuple(a.widths or [32, 64, 128, 256]))
    elif a.kind == "detector":
        model = BoxRegressor(widths=tuple(a.widths or [16, 32, 64, 128]))
    else:
        model = UNet(widths=tuple(a.widths or [16, 32, 64, 128]))
    model.load_state_dict(torch.load(a.checkpoint))
    model.eval()
    if a.command == "export":
        exporters = {"classifier": export_classifier, "segmenter": export_segmenter, "detector": export_detector}
        exporters[a.kind](model, a.onnx)  # type: ignore[operator]
        print(json.dumps({"onnx": a.onnx, "sha256": sha256(a.onnx)}))
        return 0
    results: dict = {}
    fixtures: dict = {}
    for group in a.data:
        for d in group:
            s = load_scenes(d)
            name = Path(d).name
            evaluators = {"classifier": evaluate_classifier, "segmenter": evaluate_segmenter, "detector": evaluate_detector}
            results[name] = evaluators[a.kind](model, s)  # type: ignore[operator]
            fixtures[name] = pytorch_outputs(model, s.take(a.fixture), a.kind)
    print(json.dumps(results, indent=2))
    if a.record:
        record = {"kind": a.kind, "checkpoint_sha256": sha256(a.checkpoint), "metrics": results, "pytorch_outputs": fixtures}
        if a.onnx:
            record["onnx"] = {"file": os.path.relpath(a.onnx, Path(a.record).parent), "sha256": sha256(a.onnx)}
        Path(a.record).write_text(json.dumps(record, indent=1) + "\n")
    return 0


@torch.no_grad()
def pytorch_outputs(model: torch.nn.Module, s: SceneSet, kind: str) -> dict:
    """PyTorch's outputs for the first scenes of a set, by file name: the logits (classifier) or the
    mask probability's sum and maximum (segmenter), for the ONNX Runtime agreement test."""
    x, _, _ = to_tensors(s)
    if kind == "classifier":
        logits = model(x)[0]
        return {n: [round(float(v), 6) for v in row] for n, row in zip(s.names, logits)}
    if kind == "detector":
        boxes, scores = model(x)
        return {n: [round(float(v), 6) for v in [*b, q]] for n, b, q in zip(s.names, boxes, scores)}
    p = torch.sigmoid(model(x))
    return {n: {"sum": round(float(q.sum()), 4), "max": round(float(q.max()), 6)} for n, q in zip(s.names, p)}


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except FileNotFoundError as e:
        print(f"overmap_train: {e}", file=sys.stderr)
        sys.exit(2)
