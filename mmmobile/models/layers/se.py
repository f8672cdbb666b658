"""Squeeze-and-Excitation with a channel reduction rounded to a multiple of a divisor."""
import torch
import torch.nn as nn


def make_divisible(value: float, divisor: int = 8, min_value: int = None,
                   round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (MobileNet/timm convention).

    Args:
        value (float): The value to round.
        divisor (int): The divisor. Defaults to 8.
        min_value (int, optional): Lower bound; ``divisor`` when None. Defaults to None.
        round_limit (float): If rounding down loses more than ``1 - round_limit`` of ``value``,
            round up by one divisor instead. RepViT's SE uses 0 (plain rounding). Defaults to 0.9.

    Returns:
        int: The rounded value.
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al., 2018) as used by RepViT (timm ``SEModule``).

    Global mean -> 1x1 conv (``fc1``, bias) -> ReLU -> 1x1 conv (``fc2``, bias) -> sigmoid ->
    channel-wise product. The reduced width is ``make_divisible(C * rd_ratio, divisor,
    round_limit=0)``, e.g. 48 -> 16, not 12.

    Args:
        channels (int): Input and output channels.
        rd_ratio (float): Reduction ratio. Defaults to 0.25.
        rd_divisor (int): Divisor of the reduced width. Defaults to 8.
    """

    def __init__(self, channels: int, rd_ratio: float = 0.25, rd_divisor: int = 8) -> None:
        super().__init__()
        reduced = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * scale.sigmoid()
