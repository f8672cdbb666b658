"""Convolution, BatchNorm and an optional activation, foldable into one fused convolution."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from .fused import FusedConvAct
from .reparam import conv_like, fold_bn_into_conv


class ConvBN(nn.Module):
    """``act(BN(Conv2d(x)))``; in deploy form one biased convolution with the activation fused.

    The training form has children ``conv`` (an ``nn.Conv2d``), ``bn``, ``act`` (when
    ``act_layer`` is given) and ``drop_path`` (when ``drop_path > 0``); the deploy form keeps only
    ``conv``, a :class:`~mmmobile.models.layers.fused.FusedConvAct` holding the fused weight,
    bias and the activation. Either way a checkpoint has keys ``conv.weight`` (and
    ``conv.bias``), plus ``bn.*`` in the training form.

    As the last layer of a residual branch it takes the branch input as ``residual``:
    ``residual + DropPath(act(BN(Conv2d(x))))``, with the add inside the fused convolution in
    the deploy form (which, for inference, has no drop path).

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
        act_layer (type, optional): Activation class applied after the BatchNorm, or None.
            Defaults to None.
        drop_path (float): Drop-path (stochastic depth) probability of the output before a
            residual is added; training form only. Defaults to 0.
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
                 act_layer: Optional[type] = None,
                 drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        padding = dilation * (kernel_size // 2) if padding is None else padding
        self.deploy = deploy
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                         dilation=dilation, groups=groups, bias=bias or deploy)
        act = act_layer() if act_layer is not None else None
        if deploy:
            self.conv = FusedConvAct(conv, act)
            return
        self.conv = conv
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)
        self.act = act
        self.drop_path = DropPath(drop_path) if drop_path > 0 else None

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``drop_path(act(bn(conv(x))))``, plus ``residual`` when given."""
        if self.deploy:
            return self.conv(x, residual)
        out = self.bn(self.conv(x))
        if self.act is not None:
            out = self.act(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        return out if residual is None else out + residual

    @torch.no_grad()
    def fused_weight_bias(self):
        """Return the ``(weight, bias)`` of the equivalent single convolution."""
        if self.deploy:
            return self.conv.weight, self.conv.bias
        return fold_bn_into_conv(self.conv.weight, self.conv.bias, self.bn)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the BatchNorm into the convolution, in place."""
        if self.deploy:
            return
        self.conv = FusedConvAct(conv_like(self.conv, *self.fused_weight_bias()), self.act)
        del self.bn, self.act, self.drop_path
        self.deploy = True
