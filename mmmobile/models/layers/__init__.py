"""Building blocks shared by several mmmobile backbones, each owning its own fusion."""
from .bn_linear import BNLinear
from .conv_bn import ConvBN
from .ffn import ConvBNFFN
from .fused import FusedConvAct
from .init import hybrid_init
from .reparam import (bn_scale_shift, conv_like, fuse_bn_linear_weights, fuse_conv_bn_weights,
                      identity_kernel, pad_kernel_to, reparameterize_children)
from .se import SqueezeExcite, make_divisible

__all__ = [
    'BNLinear', 'ConvBN', 'ConvBNFFN', 'FusedConvAct', 'SqueezeExcite', 'hybrid_init', 'make_divisible', 'bn_scale_shift', 'conv_like',
    'fuse_bn_linear_weights', 'fuse_conv_bn_weights', 'identity_kernel', 'pad_kernel_to',
    'reparameterize_children'
]
