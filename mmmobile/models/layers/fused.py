"""The deploy-form inference module: one biased convolution, its activation and a residual add.

After re-parameterization a block is a chain of biased convolutions, each followed by an
activation or a residual add. :class:`FusedConvAct` is one link of that chain. Its result is
always ``act(conv(x)) + residual``; how it is computed depends on the call:

- CPU inference (float32 4-D input, grad mode off, not tracing / scripting / compiling /
  exporting, PyTorch built with oneDNN and ``torch.backends.mkldnn.enabled``): one call of
  PyTorch's oneDNN pointwise-fused convolution (``torch.ops.mkldnn._convolution_pointwise``, the
  op ``torch.compile`` emits on CPUs) with ReLU, exact GELU or SiLU fused in, or with the
  residual add fused in, and with the weight of an ungrouped convolution packed once into
  oneDNN's layout. The op is checked once per process against the stock ops before it is used.
- Anything else: the stock ops (``F.conv2d``, the activation module, ``+``), so autograd,
  ``torch.jit.trace`` / ``script``, ONNX / CoreML exports and FLOP counters see ordinary
  convolutions.

This is the only module of mmmobile that calls private torch ops.
"""
import functools
import logging
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .memo import InferenceMemo

_ONEDNN_ACTIVATIONS = {nn.ReLU: 'relu', nn.SiLU: 'swish', nn.GELU: 'gelu'}
#: Depthwise kernels from this size up run channels_last on the CPU: there oneDNN has a direct
#: kernel, while PyTorch runs NCHW depthwise convolutions this large through a generic loop
#: that is more than an order of magnitude slower (same result).
LARGE_DEPTHWISE_KERNEL = 17


def onednn_activation(act: Optional[nn.Module]) -> Optional[str]:
    """oneDNN's post-op name for ``act`` ('relu', 'gelu', 'swish'), or None when it cannot be
    fused (e.g. the tanh-approximated GELU, Hardswish)."""
    name = _ONEDNN_ACTIVATIONS.get(type(act))
    if name == 'gelu' and act.approximate != 'none':
        return None
    return name


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               geometry: tuple, act: Optional[str],
               residual: Optional[torch.Tensor]) -> torch.Tensor:
    """One oneDNN convolution with ``act`` or the ``residual`` add fused in."""
    if residual is not None:
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, weight, bias, *geometry, 'add', None, None, [], None)
    return torch.ops.mkldnn._convolution_pointwise(
        x, weight, bias, *geometry, act or 'none', [], 'none' if act == 'gelu' else None)


@functools.lru_cache(maxsize=None)
def onednn_works() -> bool:
    """Whether the fused oneDNN op exists here and matches the stock ops (checked once)."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 9, 7, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(8, 8, 3, 3, generator=generator)
    bias = torch.randn(8, generator=generator)
    geometry = ([1, 1], [1, 1], [1, 1], 1)
    stock = {None: lambda t: t, 'relu': F.relu, 'gelu': F.gelu, 'swish': F.silu}
    try:
        with torch.no_grad():
            conv = F.conv2d(x, weight, bias, padding=1)
            for act, residual in ((None, None), ('relu', None), ('gelu', None),
                                  ('swish', None), (None, x)):
                expected = stock[act](conv) + (0 if residual is None else residual)
                out = _pointwise(x, weight, bias, geometry, act, residual)
                if ((out - expected).norm() / expected.norm()).item() > 1e-5:
                    raise RuntimeError(f'the fused {act or "add"} result differs from the '
                                       'stock ops')
    except (RuntimeError, AttributeError, TypeError, NotImplementedError) as error:
        logging.getLogger(__name__).warning(
            'oneDNN fused convolutions are off (%s); using the stock ops', error)
        return False
    return True


class FusedConvAct(nn.Module):
    """``act(conv(x)) + residual`` for inference: the building block of deploy forms.

    Holds the parameters of ``layer`` itself, as ``weight`` and ``bias`` (same tensors, names
    and shapes), so a ``FusedConvAct`` put where a ``Conv2d`` or ``Linear`` was keeps the
    state-dict keys: fused checkpoints load either way.

    Args:
        layer (nn.Conv2d | nn.Linear): The convolution (zero padding given as numbers) or a
            Linear, which then acts as a 1x1 convolution over the channels of a
            ``(N, C, H, W)`` input. Usually biased (a deploy-form layer).
        act (nn.Module, optional): Activation after the convolution. ReLU, exact GELU and
            SiLU are fused into it; any other module runs after it. Defaults to None.

    Example:
        >>> conv = FusedConvAct(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        >>> with torch.no_grad():
        ...     out = conv(torch.rand(1, 8, 9, 7), residual=torch.rand(1, 16, 9, 7))
        >>> tuple(out.shape)
        (1, 16, 9, 7)
    """

    def __init__(self, layer: Union[nn.Conv2d, nn.Linear], act: Optional[nn.Module] = None) -> None:
        super().__init__()
        if isinstance(layer, nn.Linear):
            self.is_linear = True
            self.in_channels, self.out_channels = layer.in_features, layer.out_features
            self.kernel_size, self.stride, self.padding, self.dilation = (1, 1), (1, 1), (0, 0), \
                (1, 1)
            self.groups = 1
        elif isinstance(layer, nn.Conv2d):
            if isinstance(layer.padding, str) or layer.padding_mode != 'zeros':
                raise ValueError('FusedConvAct needs a convolution with numeric zero padding, '
                                 f'got padding={layer.padding!r}, '
                                 f'padding_mode={layer.padding_mode!r}')
            self.is_linear = False
            self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
            self.kernel_size, self.stride = tuple(layer.kernel_size), tuple(layer.stride)
            self.padding, self.dilation = tuple(layer.padding), tuple(layer.dilation)
            self.groups = layer.groups
        else:
            raise TypeError(f'FusedConvAct wraps an nn.Conv2d or nn.Linear, got '
                            f'{type(layer).__name__}')
        self.weight = layer.weight
        self.register_parameter('bias', layer.bias)
        self.act = act
        self._onednn_act = onednn_activation(act)
        self._packed = InferenceMemo()
        self._onednn_failed = False

    def extra_repr(self) -> str:
        kind = 'linear' if self.is_linear else f'kernel_size={self.kernel_size}, ' \
            f'stride={self.stride}, padding={self.padding}, groups={self.groups}'
        return f'{self.in_channels}, {self.out_channels}, {kind}, bias={self.bias is not None}'

    def _conv_weight(self) -> torch.Tensor:
        return self.weight[:, :, None, None] if self.is_linear else self.weight

    def _geometry(self) -> tuple:
        return list(self.padding), list(self.stride), list(self.dilation), self.groups

    def stock_forward(self, x: torch.Tensor,
                      residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``act(conv(x)) + residual`` with the stock ops."""
        out = F.conv2d(x, self._conv_weight(), self.bias, self.stride, self.padding,
                       self.dilation, self.groups)
        if self.act is not None:
            out = self.act(out)
        return out if residual is None else out + residual

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``act(conv(x)) + residual`` (``residual`` optional).

        Args:
            x (Tensor): Input ``(N, C, H, W)``.
            residual (Tensor, optional): Tensor added at the end, shaped like the output.

        Returns:
            Tensor: The result, through oneDNN where that applies (see the module docstring).
        """
        if torch.jit.is_scripting() or not self._onednn_applies(x):
            return self.stock_forward(x, residual)
        return self._onednn_forward(x, residual)

    @torch.jit.unused
    def _onednn_applies(self, x: torch.Tensor) -> bool:
        if (self._onednn_failed or torch.is_grad_enabled() or torch.jit.is_tracing()
                or torch.compiler.is_compiling()):
            return False
        return (x.device.type == 'cpu' and x.dtype == torch.float32 and x.dim() == 4
                and self.weight.dtype == torch.float32 and torch.backends.mkldnn.enabled
                and onednn_works())

    @torch.jit.unused
    def _packed_weight(self, x: torch.Tensor) -> torch.Tensor:
        """The weight in oneDNN's layout for inputs shaped like ``x``, packed once per weight
        state and input shape (:class:`~mmmobile.models.layers.memo.InferenceMemo`)."""
        weight = self.weight
        return self._packed(
            weight, (weight.shape, weight.stride(), x.shape),
            lambda: torch.ops.mkldnn._reorder_convolution_weight(
                self._conv_weight().detach(), *self._geometry()[:3], self.groups, list(x.shape)))

    @torch.jit.unused
    def _onednn_forward(self, x: torch.Tensor,
                        residual: Optional[torch.Tensor]) -> torch.Tensor:
        if self.groups == 1:
            weight = self._packed_weight(x)
        else:
            weight = self.weight
            if self.groups == self.in_channels and max(self.kernel_size) >= \
                    LARGE_DEPTHWISE_KERNEL:
                x = x.contiguous(memory_format=torch.channels_last)
        try:
            # oneDNN fuses one post-op: the activation, or the add when there is none
            out = _pointwise(x, weight, self.bias, self._geometry(), self._onednn_act,
                             residual if self.act is None else None)
        except RuntimeError as error:  # a problem the one-time check did not cover
            logging.getLogger(__name__).warning(
                'oneDNN fused convolution failed (%s); this layer uses the stock ops', error)
            self._onednn_failed = True
            return self.stock_forward(x, residual)
        if self.act is not None and self._onednn_act is None:
            out = self.act(out)
        return out + residual if residual is not None and self.act is not None else out
