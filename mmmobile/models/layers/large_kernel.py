"""Re-parameterizable large-kernel depthwise convolution with a fast CPU path.

RepLKNet (Ding et al., "Scaling Up Your Kernels to 31x31", CVPR 2022,
https://arxiv.org/abs/2203.06717; official code https://github.com/DingXiaoH/RepLKNet-pytorch)
trains a depthwise ``K x K`` convolution in parallel with a small ``k x k`` one (both followed by
BatchNorm) and merges them into a single biased ``K x K`` convolution for inference.

The paper's central engineering point is that stock depthwise large-kernel convolution is slow;
the official code swaps in a CUDA implicit-GEMM kernel. On the CPU the cause is the memory layout:
PyTorch runs a depthwise convolution on a contiguous (NCHW) tensor with kernels of 17x17 and above
through a slow generic path, while the same convolution on a ``channels_last`` tensor runs through
oneDNN 13-28x faster with the same result; for 9x9-13x13 kernels on larger maps the NCHW path
wins instead, and for training steps channels_last's backward changes the picture again.
:func:`depthwise_conv2d` therefore picks the layout per call from tables measured on this
project's reference machine (:data:`DEPTHWISE_LAYOUT_TABLE` for inference,
:data:`DEPTHWISE_LAYOUT_TABLE_TRAIN` for forward + backward; re-measurable with
:func:`measure_depthwise_layouts`) and returns the result in the caller's layout, so it is a
drop-in replacement for ``F.conv2d``. Backbones can go further and run whole stages in the layout
:func:`prefers_channels_last` recommends, which avoids the layout conversions altogether.
"""
import math
import statistics
import time
import warnings
from typing import Callable, Dict, Iterable, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv_bn import ConvBN
from .reparam import pad_kernel_to

_IntPair = Union[int, Tuple[int, int]]

#: Inference: measured ``NCHW time / channels_last time`` of a stride-1 "same"-padded depthwise
#: convolution (forward only, batch 1, 512 channels, 2 threads, torch 2.14.1 on an AVX-512 AMD
#: EPYC; median of 5 interleaved runs), ``kernel_size -> {feature size: ratio}``. Above 1:
#: channels_last is faster. From 17x17 up, NCHW falls onto a slow generic path (13-28x slower);
#: for 9x9-13x13 kernels on larger maps NCHW wins. Re-measure with
#: :func:`measure_depthwise_layouts` (or ``tools/analysis/replknet_cpu_speed.py --layout-table``)
#: and install with :func:`set_depthwise_layout_table`.
DEPTHWISE_LAYOUT_TABLE: Dict[int, Dict[int, float]] = {
    3: {7: 1.84, 14: 1.84, 28: 1.44, 56: 2.65},
    5: {7: 1.72, 14: 1.65, 28: 1.35, 56: 1.72},
    7: {7: 1.66, 14: 1.45, 28: 1.12, 56: 1.58},
    9: {7: 1.60, 14: 1.22, 28: 0.79, 56: 1.15},
    13: {7: 1.31, 14: 0.60, 28: 0.33, 56: 0.40},
    17: {7: 13.21, 14: 20.85, 28: 18.55, 56: 14.59},
    21: {7: 13.14, 14: 22.02, 28: 20.59, 56: 15.66},
    27: {7: 13.20, 14: 20.97, 28: 19.46, 56: 18.97},
    31: {7: 20.20, 14: 27.60, 28: 26.80, 56: 19.13},
}

#: Training: the same ratio for forward + backward (input and weight gradients; batch 2, 256
#: channels, median of 3 interleaved runs). channels_last's backward is slow for large kernels
#: on large maps and for 13x13 on small maps, so the best layout differs from inference.
DEPTHWISE_LAYOUT_TABLE_TRAIN: Dict[int, Dict[int, float]] = {
    3: {7: 1.49, 14: 1.38, 28: 2.06, 56: 1.87},
    5: {7: 1.64, 14: 1.32, 28: 3.83, 56: 2.03},
    7: {7: 1.36, 14: 1.73, 28: 4.60, 56: 2.31},
    9: {7: 1.00, 14: 1.67, 28: 3.13, 56: 2.33},
    13: {7: 0.17, 14: 0.38, 28: 1.63, 56: 1.85},
    17: {7: 2.30, 14: 2.71, 28: 1.25, 56: 0.57},
    21: {7: 1.93, 14: 2.84, 28: 1.29, 56: 0.53},
    27: {7: 2.02, 14: 2.67, 28: 1.22, 56: 0.55},
    31: {7: 1.88, 14: 2.67, 28: 1.34, 56: 0.55},
}


def set_depthwise_layout_table(table: Dict[int, Dict[int, float]],
                               backward: bool = False) -> None:
    """Replace a layout table, e.g. with the result of a re-measurement on another machine.

    Args:
        table (dict): ``kernel_size -> {feature size: NCHW time / channels_last time}``.
        backward (bool): Replace the training (forward + backward) table instead of the
            inference one. Defaults to False.
    """
    if not table or not all(table.values()):
        raise ValueError('the layout table needs at least one kernel size with one entry')
    target = DEPTHWISE_LAYOUT_TABLE_TRAIN if backward else DEPTHWISE_LAYOUT_TABLE
    target.clear()
    target.update({int(k): {int(s): float(r) for s, r in row.items()} for k, row in table.items()})


def prefers_channels_last(kernel_size: int, height: int, width: int,
                          backward: bool = False) -> bool:
    """Whether a depthwise ``kernel_size`` convolution on an ``height x width`` map runs faster
    in ``channels_last`` than in the contiguous (NCHW) layout, according to the measured table.

    The nearest measured kernel size is used, then the nearest measured feature size on a log
    scale (the feature size is ``sqrt(height * width)``). Ties keep NCHW.

    Args:
        kernel_size (int): The (largest) kernel side.
        height (int): Feature map height.
        width (int): Feature map width.
        backward (bool): Decide for a training step (forward + backward,
            :data:`DEPTHWISE_LAYOUT_TABLE_TRAIN`) instead of inference. Defaults to False.

    Returns:
        bool: True where channels_last was measured faster.
    """
    if torch.jit.is_tracing():  # sizes are traced tensors: the decision is baked into the trace
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            kernel_size, height, width = int(kernel_size), int(height), int(width)
    table = DEPTHWISE_LAYOUT_TABLE_TRAIN if backward else DEPTHWISE_LAYOUT_TABLE
    kernel = min(table, key=lambda k: (abs(k - kernel_size), -k))
    row = table[kernel]
    size = math.log(max(1.0, math.sqrt(height * width)))
    nearest = min(row, key=lambda s: (abs(math.log(s) - size), s))
    return row[nearest] > 1.0


def needs_backward(x: torch.Tensor, *params: Optional[torch.Tensor]) -> bool:
    """Whether autograd will differentiate a computation on ``x`` with ``params``."""
    return torch.is_grad_enabled() and (x.requires_grad or any(
        p is not None and p.requires_grad for p in params))


def _layout_of(x: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for a tensor stored that way (and not also plainly contiguous)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def run_in_fast_layout(x: torch.Tensor, kernel_size: int,
                       fn: Callable[[torch.Tensor], torch.Tensor],
                       backward: Optional[bool] = None) -> torch.Tensor:
    """Run ``fn`` (depthwise convolutions with ``kernel_size`` kernels) in the faster layout.

    On the CPU, ``x`` is converted to the layout :func:`prefers_channels_last` recommends for
    the kernel and map size, ``fn`` runs, and the result is returned in the layout of ``x`` (a
    channels_last input gives a channels_last output, anything else a contiguous output). When
    ``x`` already has the recommended layout nothing is copied. Other devices call ``fn(x)``.

    Args:
        x (Tensor): Input of shape ``(N, C, H, W)``.
        kernel_size (int): The largest kernel side in ``fn``.
        fn (callable): The computation, layout-agnostic (e.g. ``F.conv2d`` calls).
        backward (bool, optional): Whether the computation will be differentiated (selects the
            training table). Defaults to ``torch.is_grad_enabled() and x.requires_grad``.

    Returns:
        Tensor: ``fn(x)``, in the layout of ``x``.
    """
    if x.device.type != 'cpu' or x.dim() != 4:
        return fn(x)
    if backward is None:
        backward = needs_backward(x)
    have = _layout_of(x)
    want = (torch.channels_last if prefers_channels_last(kernel_size, x.shape[-2], x.shape[-1],
                                                         backward) else torch.contiguous_format)
    if want != have:
        x = x.contiguous(memory_format=want)
    return fn(x).contiguous(memory_format=have)


def depthwise_conv2d(x: torch.Tensor,
                     weight: torch.Tensor,
                     bias: Optional[torch.Tensor] = None,
                     stride: _IntPair = 1,
                     padding: _IntPair = 0,
                     dilation: _IntPair = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)`` in the faster layout.

    See :func:`run_in_fast_layout`: the result equals the stock op up to float rounding
    (relative error around 1e-7 in float32), comes back in the layout of ``x``, and autograd
    works through it.

    Args:
        x (Tensor): Input of shape ``(N, C, H, W)``.
        weight (Tensor): Depthwise weight of shape ``(C, 1, kh, kw)``.
        bias (Tensor, optional): Bias of shape ``(C,)``. Defaults to None.
        stride (int | tuple[int, int]): Stride. Defaults to 1.
        padding (int | tuple[int, int]): Zero padding. Defaults to 0.
        dilation (int | tuple[int, int]): Dilation. Defaults to 1.

    Returns:
        Tensor: The convolution output.
    """
    groups = weight.shape[0]
    return run_in_fast_layout(
        x, max(weight.shape[-2:]),
        lambda t: F.conv2d(t, weight, bias, stride, padding, dilation, groups),
        needs_backward(x, weight, bias))


class DepthwiseConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` with ``groups == in_channels == out_channels`` that runs through
    :func:`depthwise_conv2d` (the faster memory layout on the CPU; set the attribute
    ``cpu_fast_path = False`` for the stock op).

    Same parameters and state-dict keys as ``nn.Conv2d``, so checkpoints are interchangeable and
    FLOP counters see an ordinary convolution.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Square kernel size.
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Padding; ``kernel_size // 2`` when None. Defaults to None.
        bias (bool): Whether to add a bias. Defaults to False.
        **factory_kwargs: ``device`` and ``dtype`` of the parameters.
    """

    def __init__(self, channels: int, kernel_size: int, stride: int = 1,
                 padding: Optional[int] = None, bias: bool = False, **factory_kwargs) -> None:
        padding = kernel_size // 2 if padding is None else padding
        super().__init__(channels, channels, kernel_size, stride, padding, groups=channels,
                         bias=bias, **factory_kwargs)
        self.cpu_fast_path = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != 'zeros' or not self.cpu_fast_path:
            return super().forward(x)
        return run_in_fast_layout(
            x, max(self.kernel_size),
            lambda t: F.conv2d(t, self.weight, self.bias, self.stride, self.padding,
                               self.dilation, self.groups),
            needs_backward(x, self.weight, self.bias))


class ReparamLargeKernelConv(nn.Module):
    """Depthwise large-kernel ConvBN plus an optional parallel small-kernel ConvBN.

    Training form (official module names, so official checkpoints load unchanged):
    ``lkb_origin`` (``K x K`` depthwise conv + BN) and ``small_conv`` (``k x k`` depthwise conv +
    BN), outputs summed. Deploy form: ``lkb_reparam``, one biased ``K x K`` depthwise conv.

    :meth:`switch_to_deploy` folds each BN into its kernel, zero-pads the small kernel into the
    centre of the large one and adds kernels and biases. Both branches must produce aligned
    outputs of the same size, so the small branch pads ``(K - k) / 2`` less than the large one
    (``k // 2`` for the default "same" padding ``K // 2``); any large-branch padding for which
    that is non-negative works, and the merged conv takes the large branch's real padding. (The
    official CUDA fast path stores padding 0 in the module and rebuilds the merged conv with
    it, which breaks the merge, DingXiaoH/RepLKNet-pytorch#48.)

    Both branches run in the faster CPU layout for the large kernel (:func:`run_in_fast_layout`;
    the merged conv is a :class:`DepthwiseConv2d`); the attribute ``cpu_fast_path = False``
    selects the stock ops.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Large kernel size (odd).
        small_kernel (int, optional): Small kernel size (odd, smaller than ``kernel_size``), or
            None for no small branch (RepLKNet-XL). Defaults to None.
        stride (int): Stride of both branches. Defaults to 1.
        padding (int, optional): Padding of the large branch; ``kernel_size // 2`` when None.
            Defaults to None.
        deploy (bool): Build the merged form directly. Defaults to False.
    """

    def __init__(self, channels: int, kernel_size: int, small_kernel: Optional[int] = None,
                 stride: int = 1, padding: Optional[int] = None, deploy: bool = False) -> None:
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
        self.cpu_fast_path = True
        if deploy:
            self.lkb_reparam = DepthwiseConv2d(channels, kernel_size, stride, padding, bias=True)
            return
        self.lkb_origin = ConvBN(channels, channels, kernel_size, stride, padding,
                                 groups=channels)
        if small_kernel is not None:
            self.small_conv = ConvBN(channels, channels, small_kernel, stride, small_padding,
                                     groups=channels)

    def _branches(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lkb_origin(x)
        if self.small_kernel is not None:
            out = out + self.small_conv(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.lkb_reparam(x)
        if not self.cpu_fast_path:
            return self._branches(x)
        return run_in_fast_layout(x, self.kernel_size, self._branches,
                                  needs_backward(x, self.lkb_origin.conv.weight))

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
        large = self.lkb_origin.conv
        merged = DepthwiseConv2d(self.channels, self.kernel_size, large.stride[0],
                                 padding=large.padding[0], bias=True, device=weight.device,
                                 dtype=weight.dtype)
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
        merged.cpu_fast_path = self.cpu_fast_path
        self.lkb_reparam = merged
        del self.lkb_origin
        if hasattr(self, 'small_conv'):
            del self.small_conv
        self.deploy = True


def measure_depthwise_layouts(kernel_sizes: Iterable[int] = (3, 5, 7, 9, 13, 17, 21, 27, 31),
                              sizes: Iterable[int] = (7, 14, 28, 56),
                              channels: int = 512,
                              repeats: int = 7,
                              threads: Optional[int] = None,
                              backward: bool = False,
                              batch_size: int = 1) -> Dict[int, Dict[int, float]]:
    """Measure ``NCHW time / channels_last time`` for stride-1 depthwise convolutions.

    Both layouts are timed interleaved (random input, "same" padding) and the median of
    ``repeats`` runs is compared. The result can be passed to :func:`set_depthwise_layout_table`.

    Args:
        kernel_sizes (Iterable[int]): Kernel sizes to measure.
        sizes (Iterable[int]): Square feature-map sizes to measure.
        channels (int): Channels of the test tensors. Defaults to 512.
        repeats (int): Timed repeats per layout (after one warm-up run). Defaults to 7.
        threads (int, optional): ``torch.set_num_threads`` during the measurement (restored
            afterwards). Defaults to the current setting.
        backward (bool): Time forward + backward (input and weight gradients) instead of the
            forward pass alone. Defaults to False.
        batch_size (int): Batch size. Defaults to 1.

    Returns:
        dict: ``kernel_size -> {size: ratio}``.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    table: Dict[int, Dict[int, float]] = {}

    def run(inp: torch.Tensor, weight: torch.Tensor, kernel: int) -> None:
        out = F.conv2d(inp, weight, None, 1, kernel // 2, 1, channels)
        if backward:
            out.sum().backward()

    try:
        with torch.inference_mode(not backward):
            for kernel in kernel_sizes:
                table[kernel] = {}
                weight = torch.randn(channels, 1, kernel, kernel, requires_grad=backward)
                for size in sizes:
                    x = torch.randn(batch_size, channels, size, size)
                    inputs = [x, x.contiguous(memory_format=torch.channels_last)]
                    inputs = [t.requires_grad_(backward) for t in inputs]
                    times = ([], [])
                    for round_index in range(repeats + 1):
                        for i, inp in enumerate(inputs):
                            start = time.perf_counter()
                            run(inp, weight, kernel)
                            if round_index:
                                times[i].append(time.perf_counter() - start)
                    table[kernel][size] = statistics.median(times[0]) / statistics.median(times[1])
    finally:
        torch.set_num_threads(previous)
    return table
