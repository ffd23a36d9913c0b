"""The guided-attention loss (the paper's "guided attention context"): the spatial attention
mask is pulled towards the object mask, pooled to the attention's resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-6


def pooled_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The object's share of each attention cell: average pooling of the [N, 1, H, W] mask."""
    return F.adaptive_avg_pool2d(mask, size)


def guided_attention_loss(attention: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary KL divergence KL(m || a), averaged over cells: the binary cross-entropy between
    the attention a and the pooled mask m, less the entropy of m. It is zero exactly where
    a = m (a soft pooled mask is its own best attention), and its gradient in a is the BCE's."""
    target = pooled_mask(mask, (attention.shape[-2], attention.shape[-1])).clamp(0.0, 1.0)
    a = attention.clamp(_EPS, 1.0 - _EPS)
    t = target.clamp(_EPS, 1.0 - _EPS)
    kl = target * (torch.log(t) - torch.log(a)) + (1.0 - target) * (torch.log(1.0 - t) - torch.log(1.0 - a))
    return kl.mean()


def attention_mass(attention: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image, the share of the attention's mass that lies on the object (the mask pooled
    to the attention's cells): sum(a * m) / sum(a)."""
    target = pooled_mask(mask, (attention.shape[-2], attention.shape[-1]))
    return (attention * target).flatten(1).sum(1) / attention.flatten(1).sum(1).clamp_min(_EPS)


def dice_bce_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The segmenter's loss: BCE plus soft Dice (the Dice term keeps small objects from being
    drowned by background pixels)."""
    bce = F.binary_cross_entropy_with_logits(logits, mask)
    p = torch.sigmoid(logits)
    inter = (p * mask).flatten(1).sum(1)
    dice = 1.0 - (2.0 * inter + 1.0) / (p.flatten(1).sum(1) + mask.flatten(1).sum(1) + 1.0)
    return bce + dice.mean()
