"""Squeeze-and-Excitation with a channel reduction rounded to a multiple of a divisor."""
import torch
import torch.nn as nn
from mmpretrain.models.utils import make_divisible


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al., 2018) as used by RepViT (timm ``SEModule``).

    Global mean -> 1x1 conv (``fc1``, bias) -> ReLU -> 1x1 conv (``fc2``, bias) -> sigmoid ->
    channel-wise product. The reduced width is mmpretrain's
    ``make_divisible(C * rd_ratio, divisor, min_ratio=0)`` (plain rounding, timm's
    ``round_limit=0``), e.g. 48 -> 16, not 12.

    Args:
        channels (int): Input and output channels.
        rd_ratio (float): Reduction ratio. Defaults to 0.25.
        rd_divisor (int): Divisor of the reduced width. Defaults to 8.
    """

    def __init__(self, channels: int, rd_ratio: float = 0.25, rd_divisor: int = 8) -> None:
        super().__init__()
        reduced = make_divisible(channels * rd_ratio, rd_divisor, min_ratio=0.)
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * scale.sigmoid()
