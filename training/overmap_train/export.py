"""ONNX export in the layout the Over-MAP worker reads (docs/models.md): NCHW float input
"image" with a dynamic batch; the classifier's outputs "logits", "features" (the Grad-CAM
layer) and "spatial_attention"; the segmenter's "probability"; the detector's "boxes" [N, 1, 4]
(xyxy, normalised) and "scores" [N, 1]."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .models import BoxRegressor, CbamResNet, DetectorExport, SegmenterExport, UNet

OPSET = 17


def export_classifier(model: CbamResNet, path: str | Path, size: int = 64) -> None:
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, 3, size, size), str(path),
        input_names=["image"], output_names=["logits", "features", "spatial_attention"],
        dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}, "spatial_attention": {0: "N"}},
        opset_version=OPSET, do_constant_folding=True,
    )


def export_segmenter(model: UNet, path: str | Path, size: int = 64) -> None:
    model.eval()
    torch.onnx.export(
        SegmenterExport(model).eval(), torch.zeros(1, 3, size, size), str(path),
        input_names=["image"], output_names=["probability"],
        dynamic_axes={"image": {0: "N"}, "probability": {0: "N"}},
        opset_version=OPSET, do_constant_folding=True,
    )


def export_detector(model: BoxRegressor, path: str | Path, size: int = 64) -> None:
    model.eval()
    torch.onnx.export(
        DetectorExport(model).eval(), torch.zeros(1, 3, size, size), str(path),
        input_names=["image"], output_names=["boxes", "scores"],
        dynamic_axes={"image": {0: "N"}, "boxes": {0: "N"}, "scores": {0: "N"}},
        opset_version=OPSET, do_constant_folding=True,
    )


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
