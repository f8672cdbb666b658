"""Residual pointwise (1x1 conv) feed-forward network built from foldable ConvBN layers."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from .conv_bn import ConvBN
from .onednn import conv2d_act
from .reparam import reparameterize_children


def fusable_activation(act: nn.Module) -> Optional[str]:
    """Transitional: the activation name of :func:`~mmmobile.models.layers.onednn.conv2d_act`
    for ``act``, or None (new code uses :class:`~mmmobile.models.layers.fused.FusedConvAct`)."""
    if isinstance(act, nn.ReLU):
        return 'relu'
    if isinstance(act, nn.SiLU):
        return 'silu'
    if isinstance(act, nn.GELU) and act.approximate == 'none':
        return 'gelu'
    return None


def conv2d_act_module(x: torch.Tensor, conv: nn.Module, act: nn.Module) -> torch.Tensor:
    """Transitional: ``act(conv(x))`` through :func:`~mmmobile.models.layers.onednn.conv2d_act`
    (new code uses :class:`~mmmobile.models.layers.fused.FusedConvAct`)."""
    name = fusable_activation(act)
    if name is None:
        return act(conv2d_act(x, conv))
    return conv2d_act(x, conv, name)


class ConvBNFFN(nn.Module):
    """``x + DropPath(pw_project(act(pw_expand(x))))``, the residual RepViT channel mixer.

    ``pw_expand`` is a 1x1 ConvBN with the activation, ``pw_project`` a 1x1 ConvBN back to
    ``channels``. In the deploy form both are fused convolutions with the activation, and the
    residual add, inside them.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Hidden (expanded) channels.
        act_layer (type): Activation class. Defaults to ``nn.GELU``.
        zero_init_last (bool): Initialize the projection's BN gamma to zero, so the residual
            block starts as identity (official RepViT). Defaults to True.
        drop_path (float): Drop-path probability of the residual branch (training only; the
            deploy form has none). Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, hidden_channels: int, act_layer: type = nn.GELU,
                 zero_init_last: bool = True, drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.pw_expand = ConvBN(channels, hidden_channels, 1, act_layer=act_layer, deploy=deploy)
        self.pw_project = ConvBN(hidden_channels, channels, 1,
                                 bn_weight_init=0. if zero_init_last else 1., deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 and not deploy else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.pw_expand(x)
        if self.drop_path is None:
            return self.pw_project(hidden, residual=x)
        return x + self.drop_path(self.pw_project(hidden))

    def switch_to_deploy(self) -> None:
        """Fuse both ConvBNs and drop the drop path, in place."""
        reparameterize_children(self)
        self.drop_path = None
