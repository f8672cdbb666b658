"""Structural re-parameterization math shared by every backbone.

Each function works on plain tensors or modules and returns new tensors; the blocks that own the
branches (``ConvBN``, ``RepVGGDW``, large-kernel convolutions, ...) call them from their own
``switch_to_deploy()``. The model-wide walk lives in :func:`reparameterize_children`.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights


def bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return ``(scale, shift)`` such that ``bn(x) == x * scale + shift`` in eval mode.

    Args:
        bn (nn.BatchNorm1d | nn.BatchNorm2d): A BatchNorm layer; its running statistics are used.

    Returns:
        tuple[Tensor, Tensor]: Per-channel scale ``gamma / sqrt(var + eps)`` and shift
        ``beta - mean * scale``.
    """
    std = (bn.running_var + bn.eps).sqrt()
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    scale = gamma / std
    return scale, beta - bn.running_mean * scale


def fold_bn_into_conv(weight: torch.Tensor, bias: Optional[torch.Tensor],
                      bn: nn.modules.batchnorm._BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold a BatchNorm that *follows* a convolution into the convolution's weight and bias.

    ``torch.nn.utils.fusion.fuse_conv_bn_weights`` with the BatchNorm given as a module.

    Args:
        weight (Tensor): Convolution weight of shape ``(C_out, C_in / groups, kh, kw)``.
        bias (Tensor, optional): Convolution bias of shape ``(C_out,)`` or None.
        bn (nn.BatchNorm2d): The BatchNorm applied to the convolution output (its running
            statistics are used).

    Returns:
        tuple[Tensor, Tensor]: Fused weight and bias (plain tensors).
    """
    fused_weight, fused_bias = fuse_conv_bn_weights(weight, bias, bn.running_mean,
                                                    bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused_weight.detach(), fused_bias.detach()


def fold_bn_into_next(bn: nn.modules.batchnorm._BatchNorm, weight: torch.Tensor,
                      bias: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold a BatchNorm that *precedes* a Linear or an unpadded convolution into its weights.

    ``W (x * s + t) + b = (W * s) x + (sum W t + b)``. Exact for a Linear and for an ungrouped
    convolution without padding (no padding value has to pass through the BatchNorm).

    Args:
        bn (nn.BatchNorm1d | nn.BatchNorm2d): The BatchNorm applied to the layer's input.
        weight (Tensor): Weight ``(C_out, C_in)`` of a Linear or ``(C_out, C_in, kh, kw)`` of a
            convolution.
        bias (Tensor, optional): The layer's bias ``(C_out,)`` or None.

    Returns:
        tuple[Tensor, Tensor]: Fused weight and bias.
    """
    scale, shift = bn_scale_shift(bn)
    view = (1, -1) + (1, ) * (weight.dim() - 2)
    fused_bias = (weight * shift.reshape(view)).flatten(1).sum(1)
    if bias is not None:
        fused_bias = fused_bias + bias
    return weight * scale.reshape(view), fused_bias


def pad_kernel_to(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a square ``k x k`` kernel symmetrically to ``size x size``.

    The small kernel lands in the centre of the large one, which is exact when both convolutions
    use "same" padding (``padding = k // 2``) and the same stride.

    Args:
        kernel (Tensor): Weight of shape ``(C_out, C_in / groups, k, k)`` with odd ``k``.
        size (int): Target odd kernel size, ``>= k``.

    Returns:
        Tensor: The padded kernel.
    """
    k = kernel.shape[-1]
    if (size - k) % 2 != 0 or size < k:
        raise ValueError(f'cannot centre a {k}x{k} kernel in a {size}x{size} one')
    pad = (size - k) // 2
    return F.pad(kernel, [pad, pad, pad, pad])


def identity_kernel(channels: int, kernel_size: int, groups: int,
                    like: torch.Tensor) -> torch.Tensor:
    """A convolution kernel that maps a tensor to itself (``C_in == C_out == channels``).

    Args:
        channels (int): Number of input and output channels.
        kernel_size (int): Odd kernel size.
        groups (int): Convolution groups.
        like (Tensor): Tensor whose dtype and device the kernel takes.

    Returns:
        Tensor: Kernel of shape ``(channels, channels // groups, k, k)``.
    """
    in_per_group = channels // groups
    kernel = torch.zeros(channels, in_per_group, kernel_size, kernel_size,
                         dtype=like.dtype, device=like.device)
    centre = kernel_size // 2
    index = torch.arange(channels, device=like.device)
    kernel[index, index % in_per_group, centre, centre] = 1
    return kernel


def conv_like(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """A new biased ``Conv2d`` with the geometry of ``conv`` holding ``weight`` and ``bias``.

    Args:
        conv (nn.Conv2d): The convolution whose kernel size, stride, padding, dilation and groups
            the result takes (its channels must match ``weight``).
        weight (Tensor): The new weight.
        bias (Tensor): The new bias.

    Returns:
        nn.Conv2d: The fused convolution, on ``weight``'s device and dtype.
    """
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True,
                      device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
    return fused


def reparameterize_children(module: nn.Module) -> None:
    """Re-parameterize every fusable descendant of ``module`` in place.

    A child that has a ``switch_to_deploy()`` method owns its own fusion (including its
    descendants); any other child is searched recursively. This is the single walk used by
    :func:`mmmobile.switch_to_deploy` and by every backbone's ``switch_to_deploy()``.

    Args:
        module (nn.Module): The module whose children are fused.
    """
    for child in module.children():
        if callable(getattr(child, 'switch_to_deploy', None)):
            child.switch_to_deploy()
        else:
            reparameterize_children(child)
