"""Training loops for the classifier and the segmenter: seeded, deterministic on CPU, with
every setting and every epoch's validation figures in a JSON training log."""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentSettings, augment
from .data import SceneSet, to_tensors
from .losses import attention_mass, box_iou, box_loss, boxes_of_masks, dice_bce_loss, guided_attention_loss
from .models import BoxRegressor, CbamResNet, UNet


@dataclass
class TrainSettings:
    kind: str  # "classifier" | "segmenter" | "detector"
    train: list[str]
    val: list[str]
    out: str
    epochs: int = 20
    batch: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    guidance: float = 0.0
    seed: int = 1
    threads: int = 2
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    limit: int = 0
    augment: dict = field(default_factory=lambda: asdict(AugmentSettings()))
    name: str = ""
    #: scenes per training folder, by the folder's name (the log's record of what was trained on)
    scenes: dict = field(default_factory=dict)


def seed_everything(seed: int, threads: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up from peak/20, then cosine decay to 0."""
    if step < warmup:
        return peak * (0.05 + 0.95 * step / max(warmup, 1))
    t = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate_classifier(model: CbamResNet, s: SceneSet, batch: int = 500) -> dict[str, float]:
    """Top-1 accuracy and the mean attention mass on the object."""
    model.eval()
    x, m, y = to_tensors(s)
    correct, mass = 0, 0.0
    for i in range(0, len(s), batch):
        logits, _, att = model(x[i:i + batch])
        correct += int((logits.argmax(1) == y[i:i + batch]).sum())
        mass += float(attention_mass(att, m[i:i + batch]).sum())
    return {"accuracy": correct / len(s), "attention_mass": mass / len(s), "n": len(s)}


@torch.no_grad()
def evaluate_segmenter(model: UNet, s: SceneSet, batch: int = 500, threshold: float = 0.5) -> dict[str, float]:
    """Mean per-image IoU of the mask binarised at ``threshold`` (the spec's)."""
    model.eval()
    x, m, _ = to_tensors(s)
    ious = []
    for i in range(0, len(s), batch):
        p = torch.sigmoid(model(x[i:i + batch])) >= threshold
        t = m[i:i + batch] > 0.5
        inter = (p & t).flatten(1).sum(1).float()
        union = (p | t).flatten(1).sum(1).float()
        ious.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
    return {"iou": float(torch.cat(ious).mean()), "n": len(s)}


@torch.no_grad()
def evaluate_detector(model: BoxRegressor, s: SceneSet, batch: int = 500, min_score: float = 0.0) -> dict[str, float]:
    """Mean box IoU with the mask's tight box, and mean IoU of the box binarised as a mask (what the
    worker's detector segmenter makes of it) with the object mask itself; the mean score."""
    model.eval()
    x, m, _ = to_tensors(s)
    box_ious, mask_ious, scores = [], [], []
    h, w = m.shape[-2], m.shape[-1]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None] + 0.5
    xs = torch.arange(w, dtype=torch.float32)[None, None, :] + 0.5
    for i in range(0, len(s), batch):
        boxes, score = model(x[i:i + batch])
        target, _ = boxes_of_masks(m[i:i + batch])
        box_ious.append(box_iou(boxes, target))
        b = boxes[:, :, None, None]
        inside = (xs >= b[:, 0] * w) & (xs < b[:, 2] * w) & (ys >= b[:, 1] * h) & (ys < b[:, 3] * h)
        inside &= (score >= min_score)[:, None, None]
        t = m[i:i + batch].reshape(-1, h, w) > 0.5
        inter = (inside & t).flatten(1).sum(1).float()
        union = (inside | t).flatten(1).sum(1).float()
        mask_ious.append(torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)))
        scores.append(score)
    return {"box_iou": float(torch.cat(box_ious).mean()), "mask_iou": float(torch.cat(mask_ious).mean()),
            "score": float(torch.cat(scores).mean()), "n": len(s)}


def _loop(settings: TrainSettings, model: torch.nn.Module, name: str, train: SceneSet, step_loss: Callable,
          evaluate: Callable) -> None:
    """Trains `model` (built after seeding), writing out/training-log-<name>.json and out/<name>.pt each epoch."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _log_header(settings, train, model)
    log_file, checkpoint = out / f"training-log-{name}.json", out / f"{name}.pt"
    g = seed_everything(settings.seed, settings.threads)
    x_all, m_all, y_all = to_tensors(train)
    n = len(train)
    steps_per_epoch = n // settings.batch
    total = steps_per_epoch * settings.epochs
    warmup = int(settings.warmup_epochs * steps_per_epoch)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=settings.lr, momentum=0.9, nesterov=True)
    aug = AugmentSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.augment.items()})
    step = 0
    t_start = time.time()
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        t0, seen, loss_sum = time.time(), 0, 0.0
        for b in range(steps_per_epoch):
            idx = order[b * settings.batch:(b + 1) * settings.batch]
            x, m = augment(x_all[idx], m_all[idx], g, aug)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, settings.lr)
            loss, parts = step_loss(model, x, m, y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
            if b % 50 == 0:
                print(f"epoch {epoch + 1}/{settings.epochs} step {b}/{steps_per_epoch} loss {float(loss):.4f} {parts} "
                      f"{seen / (time.time() - t0):.0f} img/s", flush=True)
        train_seconds = time.time() - t0
        val = evaluate(model)
        entry = {"epoch": epoch + 1, "loss": loss_sum / max(seen, 1), "images_per_second": seen / train_seconds, "val": val}
        log["epochs"].append(entry)
        print(json.dumps(entry), flush=True)
        torch.save(model.state_dict(), checkpoint)
        log["seconds"] = time.time() - t_start
        log_file.write_text(json.dumps(log, indent=2) + "\n")


def _log_header(settings: TrainSettings, train: SceneSet, model: torch.nn.Module) -> dict:
    return {
        "settings": asdict(settings),
        "train_images": len(train),
        "scenes": settings.scenes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "epochs": [],
    }


def train_classifier(settings: TrainSettings, train: SceneSet, val: dict[str, SceneSet]) -> CbamResNet:
    seed_everything(settings.seed, settings.threads)
    model = CbamResNet(widths=tuple(settings.widths))

    def step_loss(model: CbamResNet, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor):
        logits, _, att = model(x)
        ce = F.cross_entropy(logits, y)
        if settings.guidance <= 0:
            return ce, f"ce {float(ce):.3f}"
        ga = guided_attention_loss(att, m)
        return ce + settings.guidance * ga, f"ce {float(ce):.3f} guide {float(ga):.3f}"

    def evaluate(model: CbamResNet) -> dict:
        return {k: evaluate_classifier(model, s) for k, s in val.items()}

    _loop(settings, model, settings.name or "classifier", train, step_loss, evaluate)
    return model


def train_segmenter(settings: TrainSettings, train: SceneSet, val: dict[str, SceneSet]) -> UNet:
    seed_everything(settings.seed, settings.threads)
    model = UNet(widths=tuple(settings.widths))

    def step_loss(model: UNet, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor):
        loss = dice_bce_loss(model(x), m)
        return loss, ""

    def evaluate(model: UNet) -> dict:
        return {k: evaluate_segmenter(model, s) for k, s in val.items()}

    _loop(settings, model, settings.name or "segmenter", train, step_loss, evaluate)
    return model


def train_detector(settings: TrainSettings, train: SceneSet, val: dict[str, SceneSet]) -> BoxRegressor:
    seed_everything(settings.seed, settings.threads)
    model = BoxRegressor(widths=tuple(settings.widths))

    def step_loss(model: BoxRegressor, x: torch.Tensor, m: torch.Tensor, y: torch.Tensor):
        boxes, scores = model(x)
        loss, parts = box_loss(boxes, scores, m)
        return loss, f"l1 {parts['l1']:.3f} iou {parts['iou']:.3f}"

    def evaluate(model: BoxRegressor) -> dict:
        return {k: evaluate_detector(model, s) for k, s in val.items()}

    _loop(settings, model, settings.name or "detector", train, step_loss, evaluate)
    return model
