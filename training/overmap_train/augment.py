"""Batch augmentation on tensors, the same geometric transform for the image and its mask.

Geometry: horizontal flip, zoom (out to ``scale[0]``, in to ``scale[1]``) and translation, by
one affine resampling with reflected borders. Photometry: channel permutation, brightness,
contrast, occasional grayscale and Gaussian noise. Every draw comes from the generator given,
so a run is reproducible."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSettings:
    scale: tuple[float, float] = (0.6, 1.1)
    shift: float = 0.15
    flip: bool = True
    colour: bool = True
    noise: float = 0.04


def augment(x: torch.Tensor, m: torch.Tensor, g: torch.Generator, s: AugmentSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """x: [N, 3, H, W] in [0, 1]; m: [N, 1, H, W]. Returns new tensors."""
    n = x.shape[0]

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=g)

    zoom = u(s.scale[0], s.scale[1])  # the object's new size relative to the old
    sx = 1.0 / zoom
    if s.flip:
        sx = sx * torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = 1.0 / zoom
    theta[:, 0, 2] = u(-s.shift, s.shift) * 2
    theta[:, 1, 2] = u(-s.shift, s.shift) * 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    m = (F.grid_sample(m, grid, mode="bilinear", padding_mode="reflection", align_corners=False) > 0.5).float()
    if s.colour:
        perm = torch.stack([torch.randperm(3, generator=g) for _ in range(n)])
        x = torch.gather(x, 1, perm[:, :, None, None].expand_as(x))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * u(0.6, 1.4)[:, None, None, None] + mean + u(-0.2, 0.2)[:, None, None, None]
        grey = torch.rand(n, generator=g) < 0.1
        x = torch.where(grey[:, None, None, None], x.mean(dim=1, keepdim=True).expand_as(x), x)
    if s.noise > 0:
        x = x + torch.randn(x.shape, generator=g) * u(0.0, s.noise)[:, None, None, None]
    return x.clamp_(0.0, 1.0), m
