"""Convolution followed by BatchNorm, foldable into one biased convolution."""
from typing import Union

import torch
import torch.nn as nn

from .reparam import conv_like, fuse_conv_bn_weights


class ConvBN(nn.Module):
    """``Conv2d(bias=False)`` then ``BatchNorm2d``; in deploy form one ``Conv2d`` with bias.

    The training form has children ``conv`` and ``bn``; the deploy form keeps only ``conv`` (with a
    bias), so a fused checkpoint has keys ``conv.weight`` and ``conv.bias``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size. Defaults to 1.
        stride (int): Convolution stride. Defaults to 1.
        padding (int, optional): Padding; ``dilation * (kernel_size // 2)`` ("same") when None.
            Defaults to None.
        groups (int): Convolution groups. Defaults to 1.
        dilation (int): Convolution dilation. Defaults to 1.
        bn_weight_init (float): Initial BatchNorm gamma (RepViT zero-initializes the last BN of
            every residual FFN). Defaults to 1.
        bias (bool): Give the training-form convolution its own bias (CMT's layout). Defaults
            to False.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: Union[int, None] = None,
                 groups: int = 1,
                 dilation: int = 1,
                 bn_weight_init: float = 1.0,
                 bias: bool = False,
                 deploy: bool = False) -> None:
        super().__init__()
        padding = dilation * (kernel_size // 2) if padding is None else padding
        self.deploy = deploy
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              dilation=dilation, groups=groups, bias=bias or deploy)
        if not deploy:
            self.bn = nn.BatchNorm2d(out_channels)
            nn.init.constant_(self.bn.weight, bn_weight_init)
            nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x if self.deploy else self.bn(x)

    @torch.no_grad()
    def fused_weight_bias(self):
        """Return the ``(weight, bias)`` of the equivalent single convolution."""
        if self.deploy:
            return self.conv.weight, self.conv.bias
        return fuse_conv_bn_weights(self.conv.weight, self.conv.bias, self.bn)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the BatchNorm into the convolution, in place."""
        if self.deploy:
            return
        self.conv = conv_like(self.conv, *self.fused_weight_bias())
        del self.bn
        self.deploy = True
