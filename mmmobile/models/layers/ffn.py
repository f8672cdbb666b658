"""Residual pointwise (1x1 conv) feed-forward network built from foldable ConvBN layers."""
import torch
import torch.nn as nn

from .conv_bn import ConvBN


class ConvBNFFN(nn.Module):
    """``x + DropPath(pw_project(act(pw_expand(x))))``, the residual RepViT channel mixer.

    ``pw_expand`` is a 1x1 ConvBN with the activation, ``pw_project`` a 1x1 ConvBN back to
    ``channels`` that adds the residual (and owns the drop path). In the deploy form both are
    fused convolutions with the activation, and the residual add, inside them.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Hidden (expanded) channels.
        act_layer (type): Activation class. Defaults to ``nn.GELU``.
        zero_init_last (bool): Initialize the projection's BN gamma to zero, so the residual
            block starts as identity (official RepViT). Defaults to True.
        drop_path (float): Drop-path probability of the residual branch (training form only).
            Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, hidden_channels: int, act_layer: type = nn.GELU,
                 zero_init_last: bool = True, drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.pw_expand = ConvBN(channels, hidden_channels, 1, act_layer=act_layer, deploy=deploy)
        self.pw_project = ConvBN(hidden_channels, channels, 1,
                                 bn_weight_init=0. if zero_init_last else 1.,
                                 drop_path=drop_path, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw_project(self.pw_expand(x), residual=x)
