"""BatchNorm1d followed by Linear, foldable into one Linear (DeiT/LeViT-style classifier)."""
import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_

from .reparam import fold_bn_into_next


class BNLinear(nn.Module):
    """``BatchNorm1d`` then ``Linear``; in deploy form a single ``Linear`` named ``linear``.

    Args:
        in_features (int): Input features.
        out_features (int): Output features.
        std (float): Std of the truncated-normal init of the Linear weight (bias is zero).
            Defaults to 0.02, as the official RepViT.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, in_features: int, out_features: int, std: float = 0.02,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        if not deploy:
            self.bn = nn.BatchNorm1d(in_features)
        self.linear = nn.Linear(in_features, out_features)
        trunc_normal_(self.linear.weight, std=std)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x if self.deploy else self.bn(x))

    @torch.no_grad()
    def fused_weight_bias(self):
        """Return the ``(weight, bias)`` of the equivalent single Linear."""
        if self.deploy:
            return self.linear.weight, self.linear.bias
        return fold_bn_into_next(self.bn, self.linear.weight, self.linear.bias)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the BatchNorm into the Linear, in place."""
        if self.deploy:
            return
        weight, bias = self.fused_weight_bias()
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)
        del self.bn
        self.deploy = True
