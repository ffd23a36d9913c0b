"""Scenes in ImageFolder layout (``<dir>/<class>/<split>-<index>.png``) and their masks
(``<dir>-masks/<class>/<same name>``), loaded once into uint8 arrays and cached as ``.npz``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# The generator's folder names for the reference model's classes, in output order.
CLASS_FOLDERS = [
    "tshirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
]


@dataclass
class SceneSet:
    """images: [N, H, W, 3] uint8; masks: [N, H, W] uint8 in {0, 1}; labels: [N] int64."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def concat(self, other: "SceneSet") -> "SceneSet":
        return SceneSet(
            np.concatenate([self.images, other.images]),
            np.concatenate([self.masks, other.masks]),
            np.concatenate([self.labels, other.labels]),
            self.names + other.names,
        )

    def take(self, n: int) -> "SceneSet":
        return SceneSet(self.images[:n], self.masks[:n], self.labels[:n], self.names[:n])


def _listing(root: Path) -> list[tuple[str, int]]:
    files: list[tuple[str, int]] = []
    for label, folder in enumerate(CLASS_FOLDERS):
        d = root / folder
        if not d.is_dir():
            continue
        files.extend((f"{folder}/{name}", label) for name in sorted(os.listdir(d)) if name.endswith(".png"))
    if not files:
        raise FileNotFoundError(
            f"{root}: no scenes in ImageFolder layout; write them with "
            f"npm run make:scenes -- {root} --split <split> --count N --masks"
        )
    # Sorted by file name (the generator's index), so the order does not depend on the class.
    files.sort(key=lambda f: f[0].split("/")[1])
    return files


def load_scenes(root: str | Path, cache: bool = True) -> SceneSet:
    """Loads every scene under ``root`` and its mask from ``<root>-masks``; caches the arrays
    beside them, keyed by the listing, so a second load of the same files is one read."""
    root = Path(root)
    mask_root = root.parent / f"{root.name}-masks"
    files = _listing(root)
    key = hashlib.sha256("\n".join(f for f, _ in files).encode()).hexdigest()[:16]
    cache_file = root.parent / f".{root.name}-{key}.npz"
    if cache and cache_file.exists():
        z = np.load(cache_file)
        return SceneSet(z["images"], z["masks"], z["labels"], [f for f, _ in files])
    images, masks = [], []
    for rel, _ in files:
        images.append(np.asarray(Image.open(root / rel).convert("RGB"), dtype=np.uint8))
        mask_file = mask_root / rel
        if not mask_file.exists():
            raise FileNotFoundError(f"{mask_file}: missing mask; write the scenes with --masks")
        masks.append((np.asarray(Image.open(mask_file).convert("L"), dtype=np.uint8) > 127).astype(np.uint8))
    out = SceneSet(np.stack(images), np.stack(masks), np.array([l for _, l in files], dtype=np.int64), [f for f, _ in files])
    if cache:
        # A name of this process's own: two trainings started together on the same folder each
        # write their cache, and the last rename wins with a whole file.
        tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, images=out.images, masks=out.masks, labels=out.labels)
        tmp.replace(cache_file)
    return out


def to_tensors(s: SceneSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N, 3, H, W] float in [0, 1] (the spec's normalisation: scale 1/255, mean 0, std 1),
    [N, 1, H, W] float masks, [N] labels."""
    x = torch.from_numpy(s.images).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.from_numpy(s.masks).unsqueeze(1).float()
    return x, m, torch.from_numpy(s.labels)
