"""The reference networks.

``CbamResNet``: a ResNet with CBAM (Woo et al., ECCV 2018: channel attention, then spatial
attention) in the blocks of its last two stages. Its forward returns the logits, the Grad-CAM
layer's activations (the last stage's output, before global average pooling) and the last
spatial attention mask, the three maps Over-MAP compares (Kantor et al., AAAI 2021). The head
is global average pooling → one linear layer, so the worker computes Grad-CAM in closed form.

``UNet``: a small class-agnostic U-Net (Ronneberger et al. 2015) that outputs one logit per
pixel for "object"; its export ends in a sigmoid (the probability the worker binarises).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelAttention(nn.Module):
    """CBAM's channel attention: a shared MLP over average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a 7x7 convolution over the channel-wise mean and max; the
    mask ([N, 1, h, w] in (0, 1)) is what Over-MAP reads as the network's attention."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        mask = torch.sigmoid(self.conv(desc))
        return x * mask, mask


class BasicBlock(nn.Module):
    """ResNet's basic block; with ``cbam``, CBAM on the residual branch before the addition
    (as in Woo et al.'s ResNet + CBAM)."""

    def __init__(self, cin: int, cout: int, stride: int, cbam: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.channel = ChannelAttention(cout) if cbam else None
        self.spatial = SpatialAttention() if cbam else None
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        mask = None
        if self.channel is not None and self.spatial is not None:
            out, mask = self.spatial(self.channel(out))
        return F.relu(out + self.shortcut(x)), mask


class CbamResNet(nn.Module):
    """Input [N, 3, 64, 64] in [0, 1]. Stem: 3x3 convolution, stride 2 (32x32). Stages at
    32, 16, 8 and 8 pixels (the last keeps stride 1, so Grad-CAM and attention are 8x8 for
    objects of 20-60 pixels); CBAM in the last two stages."""

    def __init__(self, classes: int = 10, widths: tuple[int, ...] = (32, 64, 128, 256), blocks: tuple[int, ...] = (1, 1, 1, 1),
                 cbam_stages: tuple[int, ...] = (2, 3)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        strides = (1, 2, 2, 1)
        layers: list[BasicBlock] = []
        cin = widths[0]
        for stage, (w, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                layers.append(BasicBlock(cin, w, strides[stage] if b == 0 else 1, stage in cbam_stages))
                cin = w
        self.blocks = nn.ModuleList(layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits [N, classes], features [N, C, 8, 8] (the Grad-CAM layer), attention [N, 1, 8, 8])."""
        x = self.stem(x)
        attention: torch.Tensor | None = None
        for block in self.blocks:
            x, mask = block(x)
            if mask is not None:
                attention = mask
        assert attention is not None, "CbamResNet needs CBAM in its last stage"
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits, x, attention


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Input [N, 3, 64, 64] in [0, 1]; output [N, 1, 64, 64] object logits. Four levels
    (64, 32, 16, 8 pixels), skip connections, bilinear upsampling."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        cin = 3
        for w in widths:
            self.down.append(_double_conv(cin, w))
            cin = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_double_conv(cin + w, w))
            cin = w
        self.head = nn.Conv2d(cin, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class SegmenterExport(nn.Module):
    """The exported segmenter: the U-Net's probability of "object" per pixel."""

    def __init__(self, net: UNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


class BoxRegressor(nn.Module):
    """A single-object detector, the paper's second segmentation source in small: input
    [N, 3, 64, 64] in [0, 1]; outputs the object's box as normalised corners (x1, y1, x2, y2)
    [N, 4] and a score [N] (its predicted IoU with the true box). Four conv stages (64 → 4 pixels)
    and a two-layer head."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), size: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for w in widths:
            layers += [_double_conv(cin, w), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        side = size // 2 ** len(widths)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, 256), nn.ReLU(inplace=True), nn.Linear(256, 5))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o = self.head(self.features(x))
        cx, cy, w, h = torch.sigmoid(o[:, :4]).unbind(1)
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1).clamp(0.0, 1.0)
        return boxes, torch.sigmoid(o[:, 4])


class DetectorExport(nn.Module):
    """The exported detector, as the worker's `detector` segmenter reads it: boxes [N, 1, 4] (xyxy)
    and scores [N, 1] (one box per image, no NMS needed)."""

    def __init__(self, net: BoxRegressor) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self.net(x)
        return boxes.unsqueeze(1), scores.unsqueeze(1)
