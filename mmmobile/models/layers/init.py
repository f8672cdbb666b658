"""Weight initialization shared by the hybrid (conv + transformer) backbones."""
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from torch.nn.modules.batchnorm import _BatchNorm


def hybrid_init(module: nn.Module) -> None:
    """The initialization of the official CMT and MobileViTv3 (CVNets) code, for ``Module.apply``.

    Linear: truncated normal, std 0.02, zero bias; Conv2d: Kaiming normal (``fan_out``), zero
    bias; LayerNorm / GroupNorm / BatchNorm: weight 1, bias 0.

    Args:
        module (nn.Module): One module (``apply`` visits every one).
    """
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode='fan_out')
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.GroupNorm, _BatchNorm)) and module.weight is not None:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
