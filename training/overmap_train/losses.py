"""The guided-attention loss (the paper's "guided attention context"): the spatial attention
mask is pulled towards the object mask, pooled to the attention's resolution; the segmenter's
loss; and the detector's (boxes from the masks, IoU, L1)."""

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


def boxes_of_masks(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tight box of each mask [N, H, W] (or [N, 1, H, W]) as normalised corners (x1, y1, x2, y2)
    [N, 4], pixel edges included (a one-pixel mask at (0, 0) is (0, 0, 1/W, 1/H)); and which masks
    are non-empty [N]."""
    m = (mask.reshape(mask.shape[0], mask.shape[-2], mask.shape[-1]) > 0.5)
    n, h, w = m.shape
    rows, cols = m.any(dim=2), m.any(dim=1)
    ys = torch.arange(h, dtype=torch.float32).expand(n, h)
    xs = torch.arange(w, dtype=torch.float32).expand(n, w)
    big = float(max(h, w))
    y1 = torch.where(rows, ys, torch.full_like(ys, big)).min(dim=1).values
    y2 = torch.where(rows, ys, torch.full_like(ys, -1.0)).max(dim=1).values + 1
    x1 = torch.where(cols, xs, torch.full_like(xs, big)).min(dim=1).values
    x2 = torch.where(cols, xs, torch.full_like(xs, -1.0)).max(dim=1).values + 1
    valid = rows.any(dim=1)
    boxes = torch.stack([x1 / w, y1 / h, x2 / w, y2 / h], dim=1)
    return torch.where(valid[:, None], boxes, torch.zeros_like(boxes)), valid


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of paired boxes [N, 4] (x1, y1, x2, y2)."""
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp_min(0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp_min(0)
    inter = iw * ih
    area = lambda t: (t[:, 2] - t[:, 0]).clamp_min(0) * (t[:, 3] - t[:, 1]).clamp_min(0)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp_min(1e-9)


def box_loss(boxes: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 on the corners + (1 − IoU) for the box; the score learns the box's own IoU (binary
    cross-entropy against the detached IoU). Empty masks count for nothing."""
    target, valid = boxes_of_masks(mask)
    if not bool(valid.any()):
        return (boxes.sum() + scores.sum()) * 0.0, {"l1": 0.0, "iou": 0.0}
    b, t, s = boxes[valid], target[valid], scores[valid]
    iou = box_iou(b, t)
    l1 = (b - t).abs().sum(dim=1).mean()
    loss = l1 + (1 - iou).mean() + F.binary_cross_entropy(s, iou.detach())
    return loss, {"l1": float(l1), "iou": float(iou.mean())}
