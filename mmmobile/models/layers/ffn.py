"""Pointwise (1x1 conv) feed-forward networks built from foldable ConvBN layers."""
from typing import Optional

import torch
import torch.nn as nn

from .conv_bn import ConvBN
from .onednn import conv2d_act, onednn_fusion_usable


def fusable_activation(act: nn.Module) -> Optional[str]:
    """Name of ``act`` for :func:`~mmmobile.models.layers.onednn.conv2d_act` ('relu', 'gelu',
    'silu'), or None when oneDNN cannot fuse it (e.g. the tanh-approximated GELU)."""
    if isinstance(act, nn.ReLU):
        return 'relu'
    if isinstance(act, nn.SiLU):
        return 'silu'
    if isinstance(act, nn.GELU) and act.approximate == 'none':
        return 'gelu'
    return None


def conv2d_act_module(x: torch.Tensor, conv: nn.Module, act: nn.Module) -> torch.Tensor:
    """``act(conv(x))`` through :func:`~mmmobile.models.layers.onednn.conv2d_act`, with ``act``
    fused into the convolution where oneDNN supports it and applied after it otherwise.

    Args:
        x (Tensor): Input ``(N, C, H, W)``.
        conv (nn.Conv2d | nn.Linear): The (fused) convolution, or a Linear used as a 1x1 one.
        act (nn.Module): The activation module.

    Returns:
        Tensor: ``act(conv(x))``.
    """
    name = fusable_activation(act)
    if name is None:
        return act(conv2d_act(x, conv))
    return conv2d_act(x, conv, name)


class ConvBNFFN(nn.Module):
    """1x1 ConvBN (expand) -> activation -> 1x1 ConvBN (project), the RepViT channel mixer.

    The residual connection is left to the caller (so drop path can wrap it), or passed as
    ``residual`` when nothing wraps it (inference).

    In the fused form, in CPU inference, both convolutions run through oneDNN with packed
    weights and the activation and the residual add fused in
    (:func:`~mmmobile.models.layers.onednn.conv2d_act`; the result is channels_last). Measured
    with ``tools/benchmark.py``: this makes the fused RepViT-M1.0 15-20% faster on 2 CPU
    threads.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Hidden (expanded) channels.
        act_layer (type): Activation class. Defaults to ``nn.GELU``.
        zero_init_last (bool): Initialize the projection's BN gamma to zero, so the residual
            block starts as identity (official RepViT). Defaults to True.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, hidden_channels: int, act_layer: type = nn.GELU,
                 zero_init_last: bool = True, deploy: bool = False) -> None:
        super().__init__()
        self.pw_expand = ConvBN(channels, hidden_channels, 1, deploy=deploy)
        self.act = act_layer()
        self.pw_project = ConvBN(hidden_channels, channels, 1,
                                 bn_weight_init=0. if zero_init_last else 1., deploy=deploy)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``pw_project(act(pw_expand(x)))``, plus ``residual`` when given."""
        if self.pw_expand.deploy and self.pw_project.deploy and not self.training \
                and onednn_fusion_usable(x):
            hidden = conv2d_act_module(x, self.pw_expand.conv, self.act)
            return conv2d_act(hidden, self.pw_project.conv, residual=residual)
        out = self.pw_project(self.act(self.pw_expand(x)))
        return out if residual is None else out + residual
