"""Transitional: the function form of :class:`~mmmobile.models.layers.fused.FusedConvAct`.

Kept only until MobileViTv3 uses :class:`~mmmobile.models.layers.fused.FusedConvAct`; then
this module goes.


After re-parameterization a block is a chain of biased convolutions with an activation or a
residual add after each. In eager PyTorch every convolution re-lays-out its weight for oneDNN on
each call and every activation and add is a separate pass over memory. :func:`conv2d_act`
instead calls PyTorch's oneDNN pointwise-fused convolution
(``torch.ops.mkldnn._convolution_pointwise``, the op that ``torch.compile`` uses on CPUs) with
the activation (ReLU, exact GELU, SiLU) or the residual add fused in, and with the weight packed
into oneDNN's layout once and cached (re-packed when the weight changes, see
:func:`_packed_weight`; :func:`clear_packed_weights` empties the cache). Results equal the stock
ops up to float rounding. For the fused RepLKNet-31B at 224 this cuts the CPU time by about a
quarter (measured with ``tools/analysis/replknet_cpu_speed.py``).

The fused path is taken only where it is safe, else the stock ops run: CPU float32 4-D input,
no autograd (``torch.no_grad()`` / ``torch.inference_mode()``), not while tracing, scripting or
compiling (exports see ordinary convolutions), PyTorch built with oneDNN, and a one-time self
check of the op on this machine passed. :func:`set_onednn_fusion` turns it off globally.
Packed weights live outside the module (no state-dict keys) and roughly double the weight
memory of a model running this way. An ``nn.Linear`` is accepted where a 1x1 convolution
would be (it runs as one over the channels of a 4-D input, e.g. channels_last tokens).
"""
import logging
import weakref
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fused import LARGE_DEPTHWISE_KERNEL

_state = dict(enabled=True, checked=None)  # checked: None = not yet, True/False = result
_packed: 'weakref.WeakKeyDictionary[nn.Module, Tuple[tuple, torch.Tensor, torch.Tensor]]' = \
    weakref.WeakKeyDictionary()
_ACTIVATIONS = ('none', 'relu', 'gelu', 'silu')
_ONEDNN_NAMES = {'silu': 'swish'}  # oneDNN's post-op names where they differ
ConvOrLinear = Union[nn.Conv2d, nn.Linear]


def set_onednn_fusion(enabled: bool) -> None:
    """Enable or disable the fused oneDNN inference path globally (enabled by default)."""
    _state['enabled'] = bool(enabled)
    if not enabled:
        _packed.clear()


def _geometry(conv: ConvOrLinear) -> Tuple[torch.Tensor, list, list, list, int]:
    """``(weight, padding, stride, dilation, groups)``; a Linear as a 1x1 convolution."""
    if isinstance(conv, nn.Linear):
        return conv.weight[:, :, None, None], [0, 0], [1, 1], [1, 1], 1
    return conv.weight, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups


def _stock(x: torch.Tensor, conv: ConvOrLinear, act: str,
           residual: Optional[torch.Tensor]) -> torch.Tensor:
    out = F.conv2d(x, _geometry(conv)[0], conv.bias) if isinstance(conv, nn.Linear) else conv(x)
    if act == 'relu':
        out = F.relu(out, inplace=True)
    elif act == 'gelu':
        out = F.gelu(out)
    elif act == 'silu':
        out = F.silu(out, inplace=True)
    if residual is not None:
        out = out + residual
    return out


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               conv: ConvOrLinear, act: str, residual: Optional[torch.Tensor]) -> torch.Tensor:
    args = _geometry(conv)[1:]
    if residual is not None:
        return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, weight, bias, *args,
                                                              'add', None, None, [], None)
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *args,
                                                   _ONEDNN_NAMES.get(act, act), [],
                                                   'none' if act == 'gelu' else None)


def _self_check() -> bool:
    """Run the fused op once per mode on a small problem and compare with the stock ops."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 9, 7, generator=generator).contiguous(
        memory_format=torch.channels_last)
    conv = nn.Conv2d(8, 8, 3, padding=1)
    try:
        with torch.no_grad():
            for act, residual in (('relu', None), ('gelu', None), ('silu', None), ('none', x)):
                expected = _stock(x, conv, act, residual)
                out = _pointwise(x, conv.weight, conv.bias, conv, act, residual)
                if ((out - expected).norm() / expected.norm()).item() > 1e-5:
                    raise RuntimeError(f'fused {act} result differs from the stock op')
    except (RuntimeError, AttributeError, TypeError, NotImplementedError) as error:
        logging.getLogger(__name__).warning(
            'oneDNN fused convolutions disabled (%s); using the stock ops', error)
        return False
    return True


def onednn_fusion_usable(x: torch.Tensor) -> bool:
    """Whether :func:`conv2d_act` would take the fused oneDNN path for input ``x``."""
    if not (_state['enabled'] and x.device.type == 'cpu' and x.dtype == torch.float32
            and x.dim() == 4 and not torch.is_grad_enabled()):
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    if _state['checked'] is None:
        _state['checked'] = torch.backends.mkldnn.is_available() and _self_check()
    return _state['checked']


def clear_packed_weights() -> None:
    """Drop every cached packed weight (they are rebuilt on the next fused call)."""
    _packed.clear()


def _fingerprint(weight: torch.Tensor) -> torch.Tensor:
    """A few evenly spaced weight values: catches in-place edits that bypass autograd's version
    counter (``param.data.copy_(...)``) unless they leave every sampled value unchanged."""
    flat = weight.detach().reshape(-1)
    return flat[::max(1, flat.numel() // 32)].clone()


def _packed_weight(conv: ConvOrLinear, x: torch.Tensor) -> torch.Tensor:
    """The weight of ``conv`` in oneDNN's layout for inputs shaped like ``x`` (cached).

    The cache entry is rebuilt when the weight tensor, its version counter (any in-place change
    through autograd-visible ops, e.g. ``load_state_dict``), its sampled values, the input shape
    or the convolution's geometry change.
    """
    weight, padding, stride, dilation, groups = _geometry(conv)
    key = (weight.data_ptr(), weight._version, tuple(weight.shape), tuple(x.shape),
           stride, padding, dilation, groups)
    cached = _packed.get(conv)
    if cached is not None and cached[0] == key and torch.equal(cached[1], _fingerprint(weight)):
        return cached[2]
    packed = torch.ops.mkldnn._reorder_convolution_weight(
        weight.detach(), padding, stride, dilation, groups, list(x.shape))
    _packed[conv] = (key, _fingerprint(weight), packed)
    return packed


def conv2d_act(x: torch.Tensor, conv: ConvOrLinear, act: str = 'none',
               residual: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``act(conv(x))`` or ``conv(x) + residual``, fused through oneDNN where possible.

    Args:
        x (Tensor): Input ``(N, C, H, W)``.
        conv (nn.Conv2d | nn.Linear): A (usually biased) convolution with zero padding, or a
            Linear applied as a 1x1 convolution over the channels.
        act (str): 'none', 'relu', the exact (erf) 'gelu' or 'silu'. Defaults to 'none'.
        residual (Tensor, optional): Tensor added to the convolution output (then ``act`` must
            be 'none'). Defaults to None.

    Returns:
        Tensor: The result; channels_last when the fused path ran.
    """
    if act not in _ACTIVATIONS or (residual is not None and act != 'none'):
        raise ValueError(f'unsupported combination act={act!r} with a residual')
    if getattr(conv, 'padding_mode', 'zeros') != 'zeros' or not onednn_fusion_usable(x):
        return _stock(x, conv, act, residual)
    if isinstance(conv, nn.Linear) or conv.groups == 1:
        weight = _packed_weight(conv, x)
    else:
        weight = conv.weight
        if conv.groups == conv.in_channels and max(conv.kernel_size) >= LARGE_DEPTHWISE_KERNEL:
            x = x.contiguous(memory_format=torch.channels_last)
    try:
        return _pointwise(x, weight, conv.bias, conv, act, residual)
    except RuntimeError as error:
        logging.getLogger(__name__).warning(
            'oneDNN fused convolution failed (%s); falling back to the stock ops', error)
        set_onednn_fusion(False)
        return _stock(x, conv, act, residual)
