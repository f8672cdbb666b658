"""Re-parameterizable large-kernel depthwise convolution.

RepLKNet (Ding et al., "Scaling Up Your Kernels to 31x31", CVPR 2022,
https://arxiv.org/abs/2203.06717; official code https://github.com/DingXiaoH/RepLKNet-pytorch)
trains a depthwise ``K x K`` convolution in parallel with a small ``k x k`` one (both followed by
BatchNorm) and merges them into a single biased ``K x K`` convolution for inference.

On the CPU, depthwise kernels this large are fast only on ``channels_last`` tensors (oneDNN has
a direct kernel; PyTorch runs them on NCHW tensors through a generic loop), which is why
RepLKNet declares ``channels_last`` as its preferred memory format and why the merged
convolution of the deploy form (:class:`~mmmobile.models.layers.fused.FusedConvAct`) runs large
depthwise kernels channels_last whatever its input.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .conv_bn import ConvBN
from .fused import FusedConvAct
from .reparam import conv_like, pad_kernel_to


class ReparamLargeKernelConv(nn.Module):
    """Depthwise large-kernel ConvBN plus an optional parallel small-kernel ConvBN, then an
    optional activation: ``act(BN(DW_K(x)) + BN(DW_k(x)))``.

    Training form (official module names, so official checkpoints load unchanged):
    ``lkb_origin`` (``K x K`` depthwise conv + BN) and ``small_conv`` (``k x k`` depthwise conv +
    BN), outputs summed. Deploy form: ``lkb_reparam``, one biased ``K x K`` depthwise conv with
    the activation fused (:class:`~mmmobile.models.layers.fused.FusedConvAct`).

    :meth:`switch_to_deploy` folds each BN into its kernel, zero-pads the small kernel into the
    centre of the large one and adds kernels and biases. Both branches must produce aligned
    outputs of the same size, so the small branch pads ``(K - k) / 2`` less than the large one
    (``k // 2`` for the default "same" padding ``K // 2``); any large-branch padding for which
    that is non-negative works, and the merged conv takes the large branch's real padding. (The
    official CUDA fast path stores padding 0 in the module and rebuilds the merged conv with
    it, which breaks the merge, DingXiaoH/RepLKNet-pytorch#48.)

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Large kernel size (odd).
        small_kernel (int, optional): Small kernel size (odd, smaller than ``kernel_size``), or
            None for no small branch (RepLKNet-XL). Defaults to None.
        stride (int): Stride of both branches. Defaults to 1.
        padding (int, optional): Padding of the large branch; ``kernel_size // 2`` when None.
            Defaults to None.
        act_layer (type, optional): Activation class after the sum (RepLKNet's
            ``lk_nonlinear``), or None. Defaults to None.
        deploy (bool): Build the merged form directly. Defaults to False.
    """

    def __init__(self, channels: int, kernel_size: int, small_kernel: Optional[int] = None,
                 stride: int = 1, padding: Optional[int] = None,
                 act_layer: Optional[type] = None, deploy: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if small_kernel is not None and (small_kernel % 2 == 0 or small_kernel >= kernel_size):
            raise ValueError(f'small_kernel must be odd and smaller than {kernel_size}, '
                             f'got {small_kernel}')
        padding = kernel_size // 2 if padding is None else padding
        small_padding = None
        if small_kernel is not None:
            small_padding = padding - (kernel_size - small_kernel) // 2
            if small_padding < 0:
                raise ValueError(f'padding {padding} is too small to align a {small_kernel}x'
                                 f'{small_kernel} branch with the {kernel_size}x{kernel_size} '
                                 'one')
        self.channels = channels
        self.kernel_size = kernel_size
        self.small_kernel = small_kernel
        self.stride = stride
        self.padding = padding
        self.deploy = deploy
        act = act_layer() if act_layer is not None else None
        if deploy:
            self.lkb_reparam = FusedConvAct(
                nn.Conv2d(channels, channels, kernel_size, stride, padding, groups=channels), act)
            return
        self.act = act
        self.lkb_origin = ConvBN(channels, channels, kernel_size, stride, padding,
                                 groups=channels)
        if small_kernel is not None:
            self.small_conv = ConvBN(channels, channels, small_kernel, stride, small_padding,
                                     groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.lkb_reparam(x)
        out = self.lkb_origin(x)
        if self.small_kernel is not None:
            out = out + self.small_conv(x)
        return out if self.act is None else self.act(out)

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the ``(weight, bias)`` of the single merged ``K x K`` depthwise convolution."""
        if self.deploy:
            return self.lkb_reparam.weight, self.lkb_reparam.bias
        weight, bias = self.lkb_origin.fused_weight_bias()
        if self.small_kernel is not None:
            large, small = self.lkb_origin.conv, self.small_conv.conv
            offset = (self.kernel_size - self.small_kernel) // 2
            if (tuple(small.padding) != (large.padding[0] - offset, ) * 2
                    or large.padding[0] != large.padding[1] or large.stride != small.stride
                    or large.dilation != (1, 1) or small.dilation != (1, 1)):
                raise RuntimeError('the branches are not aligned: the small kernel can only be '
                                   'merged when it pads (K - k) / 2 less than the large one, '
                                   'with the same stride and no dilation')
            small_weight, small_bias = self.small_conv.fused_weight_bias()
            weight = weight + pad_kernel_to(small_weight, self.kernel_size)
            bias = bias + small_bias
        return weight, bias

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Merge both branches (and their BNs) into ``lkb_reparam``, in place; idempotent."""
        if self.deploy:
            return
        weight, bias = self.equivalent_kernel_bias()
        self.lkb_reparam = FusedConvAct(conv_like(self.lkb_origin.conv, weight, bias), self.act)
        del self.lkb_origin, self.act
        if hasattr(self, 'small_conv'):
            del self.small_conv
        self.deploy = True
