#!/usr/bin/python3
"""The PyTorch peer of `overmap run` (issue #23): the script a user would write instead.

A torchvision-style folder dataset (PIL decode, EXIF transpose, resize to the model's input),
a DataLoader with worker processes, the reference CBAM ResNet and U-Net from training/ with the
ONNX file's weights (batch norm is folded into the convolutions in the export, so each
convolution + batch norm pair becomes one convolution with a bias), Grad-CAM by the CAM identity
(the head is pool -> linear), the segmenter's mask and the overlaps the spec names.

    /usr/bin/python3 scripts/peer-pytorch.py <image-folder> [--spec models/reference-v4/overmap-model.json]
        [--workers 2] [--batch 64] [--threads 1] [--draft] [--out scores.jsonl]

One JSON line per image on --out (key = path under the folder, with '/'), a summary on stdout.
--draft lets PIL decode JPEGs at a reduced DCT scale (what sharp's shrink-on-load does); users
rarely set it, so it is off by default. Debian's python3-torch and python3-torchvision only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from overmap_train.models import CbamResNet, UNet  # noqa: E402

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def fail(msg: str) -> None:
    sys.stderr.write(f"peer-pytorch: {msg}\n")
    sys.exit(2)


# --- the ONNX file's initializers (a minimal protobuf reader: no onnx package needed) ---


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            yield field, wire, v
        elif wire == 2:
            n, i = _varint(buf, i)
            yield field, wire, buf[i : i + n]
            i += n
        elif wire == 5:
            yield field, wire, buf[i : i + 4]
            i += 4
        elif wire == 1:
            yield field, wire, buf[i : i + 8]
            i += 8
        else:
            raise ValueError(f"protobuf wire type {wire}")


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def onnx_initializers(path: Path) -> dict[str, torch.Tensor]:
    """name -> float32 tensor for every initializer of the model's graph (ModelProto.graph = 7,
    GraphProto.initializer = 5; TensorProto: dims 1, data_type 2, float_data 4, name 8, raw_data 9)."""
    graph = next(v for f, w, v in _fields(path.read_bytes()) if f == 7 and w == 2)
    out: dict[str, torch.Tensor] = {}
    for f, w, t in _fields(graph):
        if f != 5 or w != 2:
            continue
        dims: list[int] = []
        name, raw, floats, dtype = "", b"", [], 1
        for tf_, tw, tv in _fields(t):
            if tf_ == 1 and tw == 0:
                dims.append(tv)
            elif tf_ == 1 and tw == 2:
                j = 0
                while j < len(tv):
                    d, j = _varint(tv, j)
                    dims.append(d)
            elif tf_ == 2:
                dtype = tv
            elif tf_ == 4 and tw == 2:
                floats = list(struct.unpack(f"<{len(tv) // 4}f", tv))
            elif tf_ == 8:
                name = tv.decode()
            elif tf_ == 9:
                raw = tv
        if dtype != 1:
            continue
        data = torch.frombuffer(bytearray(raw), dtype=torch.float32) if raw else torch.tensor(floats)
        out[name] = data.reshape(dims).clone()
    return out


def load_onnx_weights(model: nn.Module, path: Path) -> nn.Module:
    """The ONNX file's weights into the PyTorch module: named parameters by name; each
    convolution followed by batch norm gets the export's fused weight and bias (in module order,
    which is the export's order of the fused initializers), and its batch norm becomes identity."""
    init = onnx_initializers(path)
    fused = [v for k, v in init.items() if k.startswith("onnx::")]
    pairs: list[tuple[nn.Module, str, nn.Conv2d, str]] = []
    for parent in model.modules():
        names = list(parent._modules.keys())
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                pairs.append((parent, a, conv, b))
    pairs.sort(key=lambda p: [id(m) for m in model.modules()].index(id(p[2])))
    if len(fused) != 2 * len(pairs):
        fail(f"{path}: {len(fused)} fused tensors, {len(pairs)} convolution + batch norm pairs: another architecture")
    for n, (parent, a, conv, b) in enumerate(pairs):
        w, bias = fused[2 * n], fused[2 * n + 1]
        if w.shape != conv.weight.shape:
            fail(f"{path}: fused weight {tuple(w.shape)} for a convolution of {tuple(conv.weight.shape)}")
        new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
        new.weight.data.copy_(w)
        new.bias.data.copy_(bias)
        new._fused = True  # type: ignore[assignment]
        setattr(parent, a, new)
        setattr(parent, b, nn.Identity())
    state = model.state_dict()
    named: dict[str, torch.Tensor] = {}
    for k in state:
        v = init.get(k, init.get(f"net.{k}"))  # the segmenter is exported inside a wrapper ("net.")
        if v is not None:
            named[k] = v
    fused_keys = {k for k in state if k not in named}
    fused_ok = {
        f"{name}.{p}" for name, m in model.named_modules() if getattr(m, "_fused", False) for p in ("weight", "bias")
    }
    if fused_keys - fused_ok:
        fail(f"{path}: no initializer for {sorted(fused_keys - fused_ok)[:3]}: not this architecture")
    model.load_state_dict(named, strict=False)
    return model.eval()


def load_models(spec_path: Path) -> tuple[dict[str, Any], nn.Module, nn.Module]:
    """The spec, the classifier and the segmenter (widths from the training logs beside the spec)."""
    if not spec_path.is_file():
        fail(f"--spec {spec_path}: no such file; pass a spec such as models/reference-v4/overmap-model.json")
    spec = json.loads(spec_path.read_text())
    folder = spec_path.parent

    def widths(kind: str) -> tuple[int, ...]:
        log = folder / f"training-log-{kind}.json"
        if not log.is_file():
            fail(f"{log}: missing; the peer builds the reference architecture from its training settings")
        return tuple(json.loads(log.read_text())["settings"]["widths"])

    clf = CbamResNet(len(spec["classes"]), widths("classifier"))
    clf = load_onnx_weights(clf, folder / spec["classifier"]["model"])
    seg = load_onnx_weights(UNet(widths("segmenter")), folder / spec["segmenter"]["model"])
    return spec, clf, seg


# --- the data: a folder of class folders, as torchvision's ImageFolder reads it ---


class Photos(Dataset):  # type: ignore[type-arg]
    def __init__(self, root: Path, size: tuple[int, int], draft: bool) -> None:
        self.root, self.size, self.draft = root, size, draft
        self.transform = T.Compose([T.Resize(size), T.PILToTensor()])  # uint8 [3, h, w]
        self.keys = sorted(
            str(p.relative_to(root)).replace(os.sep, "/")
            for p in root.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXT
        )
        if not self.keys:
            fail(f"{root}: no images under it; pass a folder of class folders of JPEG/PNG files")

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.open(self.root / self.keys[i])
        h, w = self.size
        if self.draft:
            img.draft("RGB", (w, h))  # JPEG DCT scaling to at least (w, h)
        img = ImageOps.exif_transpose(img).convert("RGB")
        return self.transform(img), i


# --- the scores, as the worker computes them (packages/engine/src/scoring) ---


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B, h, w] -> [B, H, W] as tf.image.resizeBilinear's defaults (no align corners, no half-pixel
    centres: source = destination * in / out), which the worker uses; F.interpolate's
    align_corners=False is the half-pixel variant and moves the binarised maps by a pixel."""
    b, h, w = x.shape
    H, W = size
    if (h, w) == (H, W):
        return x.clone()

    def axis(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = torch.arange(n_out, dtype=torch.float32) * (n_in / n_out)
        lo = s.floor().clamp(min=0)
        return lo.long(), s.ceil().clamp(max=n_in - 1).long(), s - lo

    r0, r1, rf = axis(h, H)
    c0, c1, cf = axis(w, W)
    top, bot = x[:, r0], x[:, r1]
    t = top[:, :, c0] + (top[:, :, c1] - top[:, :, c0]) * cf
    u = bot[:, :, c0] + (bot[:, :, c1] - bot[:, :, c0]) * cf
    return t + (u - t) * rf[None, :, None]


def normalize_max(x: torch.Tensor) -> torch.Tensor:
    m = x.flatten(1).amax(1).view(-1, 1, 1)
    return torch.where(m > 0, x / torch.where(m > 0, m, torch.ones_like(m)), torch.zeros_like(x))


def iou(a: torch.Tensor, mask: torch.Tensor, t: float) -> torch.Tensor:
    p = (a >= t).float()
    inter = (p * mask).flatten(1).sum(1)
    union = (p + mask).flatten(1).sum(1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))


def sirc(p: torch.Tensor, s: torch.Tensor, a: float, b: float) -> torch.Tensor:
    return p.clamp(0, 1).pow(1 + torch.exp(-b * (s - a)))


@torch.no_grad()
def score(spec: dict[str, Any], clf: nn.Module, seg: nn.Module, x8: torch.Tensor) -> dict[str, torch.Tensor]:
    """The record's scores for a uint8 batch [B, 3, h, w]: prediction, msp, Over-MAP (Grad-CAM vs
    the segmenter's mask), attention vs mask, Grad-CAM vs attention, the decision score."""
    norm = spec["classifier"].get("normalization", {"scale": 1 / 255})
    x = x8.float() * norm.get("scale", 1 / 255)
    logits, feats, attention = clf(x)
    probs = logits.softmax(1)
    msp, pred = probs.max(1)
    # CAM identity for a pool -> linear head: Grad-CAM of class c = ReLU(sum_k W[c, k] A_k) / (h w)
    w = clf.fc.weight[pred]  # [B, C]
    cam = normalize_max(F.relu(torch.einsum("bc,bchw->bhw", w, feats)))
    prob = seg(x)
    mask = (torch.sigmoid(prob[:, 0]) >= spec["segmenter"].get("threshold", 0.5)).float()
    size = (mask.shape[1], mask.shape[2])
    cam = resize_bilinear(cam, size)
    att = resize_bilinear(normalize_max(attention[:, 0]), size)
    t = spec["overlap"]["binarize"]
    no_mask = mask.flatten(1).mean(1) < spec.get("minMaskFraction", 0.01)
    zero = torch.zeros_like(msp)
    gradcam_seg = torch.where(no_mask, zero, iou(cam, mask, t))
    attention_seg = torch.where(no_mask, zero, iou(att, mask, t))
    gradcam_attention = iou(cam, (att >= t).float(), t)
    d = spec.get("decision", {"rule": "overmap"})
    conf = sirc(msp, attention_seg, d["a"], d["b"]) if d["rule"] == "sirc" else gradcam_seg
    return {
        "pred": pred,
        "msp": msp,
        "overmap": gradcam_seg,
        "attention_seg": attention_seg,
        "gradcam_attention": gradcam_attention,
        "confidence": conf,
    }


def check_spec(spec: dict[str, Any], where: Path) -> None:
    """The peer implements the reference spec's choices; anything else is refused, not approximated."""
    ov, comb = spec.get("overlap", {}), spec.get("combine", {})
    weights = comb.get("weights", {})
    if ov.get("measure") != "iou" or comb.get("rule") != "weighted" or weights.get("attention_seg", 0) or weights.get(
        "gradcam_attention", 0
    ):
        fail(f"{where}: the peer computes Over-MAP as Grad-CAM/mask IoU only; use a spec like models/reference-v4's")
    if spec.get("decision", {}).get("rule", "overmap") not in ("sirc", "overmap"):
        fail(f"{where}: decision rule {spec['decision']['rule']}: the peer knows sirc and overmap")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    default_spec = Path(__file__).resolve().parent.parent / "models/reference-v4/overmap-model.json"
    ap.add_argument("--spec", type=Path, default=default_spec)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (decode)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the main process (0: torch's default)")
    ap.add_argument("--draft", action="store_true", help="PIL's JPEG draft mode (DCT scaling), off as in most scripts")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines, one per image")
    a = ap.parse_args()
    if not a.folder.is_dir():
        fail(f"{a.folder}: not a folder; pass a folder of class folders of images")
    if a.workers < 0 or a.batch < 1:
        fail(f"--workers {a.workers} --batch {a.batch}: use workers >= 0 and batch >= 1")
    t0 = time.perf_counter()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    spec, clf, seg = load_models(a.spec)
    check_spec(spec, a.spec)
    h, w = spec["classifier"]["inputSize"]
    data = Photos(a.folder, (h, w), a.draft)
    loader = DataLoader(data, batch_size=a.batch, num_workers=a.workers, shuffle=False)
    out = a.out.open("w") if a.out else None
    t1 = time.perf_counter()
    n = 0
    for x8, idx in loader:
        s = score(spec, clf, seg, x8)
        n += len(idx)
        if out:
            for j, i in enumerate(idx.tolist()):
                rec = {"key": data.keys[i], **{k: (v[j].item()) for k, v in s.items()}}
                out.write(json.dumps(rec) + "\n")
    t2 = time.perf_counter()
    if out:
        out.close()
    summary = {
        "images": n,
        "seconds": t2 - t1,
        "startSeconds": t1 - t0,
        "imagesPerSecond": n / (t2 - t1) if t2 > t1 else math.nan,
        "workers": a.workers,
        "torchThreads": torch.get_num_threads(),
        "draft": a.draft,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
