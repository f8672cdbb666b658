"""Building blocks shared by several mmmobile backbones, each owning its own fusion."""
from mmpretrain.models.utils import make_divisible

from .bn_linear import BNLinear
from .conv_bn import ConvBN
from .ffn import ConvBNFFN
from .fused import FusedConvAct
from .init import hybrid_init
from .memo import InferenceMemo
from .reparam import (bn_scale_shift, conv_like, fold_bn_into_conv, fold_bn_into_next,
                      identity_kernel, pad_kernel_to, reparameterize_children)
from .se import SqueezeExcite

__all__ = [
    'BNLinear', 'ConvBN', 'ConvBNFFN', 'FusedConvAct', 'InferenceMemo', 'SqueezeExcite', 'hybrid_init',
    'make_divisible', 'bn_scale_shift', 'conv_like', 'fold_bn_into_conv', 'fold_bn_into_next',
    'identity_kernel', 'pad_kernel_to', 'reparameterize_children'
]
