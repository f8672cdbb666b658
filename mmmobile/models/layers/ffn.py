"""Pointwise (1x1 conv) feed-forward networks built from foldable ConvBN layers."""
import torch
import torch.nn as nn

from .conv_bn import ConvBN


class ConvBNFFN(nn.Module):
    """1x1 ConvBN (expand) -> activation -> 1x1 ConvBN (project), the RepViT channel mixer.

    The residual connection is left to the caller (so drop path can wrap it).

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw_project(self.act(self.pw_expand(x)))
