# Copyright (c) mmmobile contributors. All rights reserved.
"""MobileViTv3: Mobile-Friendly Vision Transformer with Simple and Effective Fusion of Local,
Global and Input Features.

Paper: Shakti N. Wadekar, Abhishek Chaurasia, 2022, https://arxiv.org/abs/2209.15159.
Re-implemented from the description of the official code (https://github.com/micronDLA/MobileViTv3,
a set of patches for Apple's CVNets: ``MobileViTv3-v1/`` builds XXS/XS/S on MobileViTv1,
``MobileViTv3-v2/`` builds 0.5/0.75/1.0 on MobileViTv2). Parameter counts and outputs match it.

Where the official code and the paper differ (or the paper is silent), this file follows the code:

- v1-based blocks use 4 attention heads in every stage (the official yaml sets
  ``number_heads: 4``), and the 1x1 expansion after the last stage has ``min(4 * C, 960)``
  channels (S: 960, not 1280).
- Odd feature maps. v1-based blocks bilinearly resize the *local features* up to the next even
  size (``align_corners=False``) before the 2x2 unfolding and resize the folded map back, so a
  block keeps its input size. v2-based blocks bilinearly resize the *block input*
  (``align_corners=True``) and keep the enlarged size (a 224 input gives 8x8 maps at stride 32).
- Dilation for dense prediction (``out_stride`` 16 / 8, as CVNets' ``output_stride``): a dilated
  stage's first inverted residual keeps stride 1 with the previous dilation; the v2-based block's
  depthwise conv takes the doubled dilation, the v1-based block's is never dilated.

Not in the official code: ``drop_path_rate`` (default 0) over the transformer layers and
``with_cp``. The 2x2 patch unfolding and folding are written with reshapes and permutes whose
sizes are constants or ``-1`` (never read from tensor shapes): the patch order is the official
one (``F.unfold`` order), and ``torch.jit.trace``, ONNX opset 17 and CoreML see static shapes.

CPU inference of the fused model (eval mode, float32, no autograd, not tracing / scripting /
compiling; see :func:`channels_last_fast_path`) takes a fast path with the same results up to
float rounding: every convolution, and every Linear of the v1-based transformer as a 1x1
convolution, runs through oneDNN with a packed weight and its SiLU or residual add fused in
(:func:`~mmmobile.models.layers.onednn.conv2d_act`); maps stay channels_last, so the 2x2 patches
are one copy of whole channel vectors into tokens ``(B, 4, N, d)`` and the transformer needs no
layout conversion. Transformer layers with few tokens keep their plain ops
(:data:`ONEDNN_MIN_TOKEN_MACS`). Training, autograd, tracing and exports run the plain ops.
Measured with interleaved timing (2 threads, batch 1, 256x256, channels_last), plain ops ->
this path: XXS 11.4 -> 11.0 ms, S 32.3 -> 24.2 ms, 0.5 11.4 -> 10.4 ms, 1.0 25.1 -> 20.6 ms
(ONNX Runtime: 8.8, 27.3, 8.7, 23.9 ms); with ``OMP_WAIT_POLICY=PASSIVE`` (every parallel
region pays a thread wake-up, so fewer, fused ops gain more): XXS 23.6 -> 20.7 ms, S 47.0 ->
37.7 ms, 0.5 22.3 -> 19.2 ms, 1.0 36.0 -> 29.8 ms.
"""
import copy
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath

from mmmobile.registry import MODELS
from ..layers import ConvBN, hybrid_init, make_divisible
from ..layers.ffn import conv2d_act_module
from ..layers.onednn import conv2d_act, onednn_fusion_usable
from .base import MobileBackbone

PATCH_SIZE = 2  # 2x2 patches in every block of every official variant
#: Below this many multiply-adds per ``d x d`` token projection (tokens x d^2), a transformer
#: layer on the CPU inference path runs its plain ops: oneDNN's larger fixed cost per call
#: outweighs its gain there (measured per layer, 2 threads, with and without
#: ``OMP_WAIT_POLICY=PASSIVE``). At 256x256, stages 3-4 of XXS / 0.5 / 0.75 and stage 4 of XS
#: are below it, every other stage of the official variants above.
ONEDNN_MIN_TOKEN_MACS = 3_000_000


class ConvBNAct(ConvBN):
    """:class:`ConvBN` followed by an activation (SiLU by default), CVNets' ``ConvLayer``.

    Fuses like :class:`ConvBN` (the activation stays); keys ``conv.*`` and ``bn.*``. The fused
    form runs through oneDNN in CPU inference, with a packed weight and the activation fused in
    (:func:`~mmmobile.models.layers.onednn.conv2d_act`; the result is channels_last).

    Args:
        *args: Positional arguments of :class:`ConvBN`.
        act_layer (type): Activation class. Defaults to ``nn.SiLU``.
        **kwargs: Keyword arguments of :class:`ConvBN`.
    """

    def __init__(self, *args, act_layer: type = nn.SiLU, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy and not self.training and onednn_fusion_usable(x):
            return conv2d_act_module(x, self.conv, self.act)
        return self.act(super().forward(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual ("MV2") as in CVNets.

    1x1 ConvBN + SiLU (``expand``, absent when ``expand_ratio == 1``), 3x3 depthwise ConvBN + SiLU
    (``depthwise``; stride and dilation), 1x1 ConvBN (``project``, no activation); identity
    residual iff the stride is 1 and the width is unchanged. Hidden width
    ``make_divisible(round(in_channels * expand_ratio), 8)``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Depthwise stride. Defaults to 1.
        expand_ratio (float): Hidden width ratio. Defaults to 4.
        dilation (int): Depthwise dilation. Defaults to 1.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 expand_ratio: float = 4., dilation: int = 1, deploy: bool = False) -> None:
        super().__init__()
        hidden = make_divisible(int(round(in_channels * expand_ratio)), 8)
        self.use_residual = stride == 1 and in_channels == out_channels
        if expand_ratio != 1:
            self.expand = ConvBNAct(in_channels, hidden, 1, deploy=deploy)
        self.depthwise = ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden,
                                   dilation=dilation, deploy=deploy)
        self.project = ConvBN(hidden, out_channels, 1, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if hasattr(self, 'expand') else x
        if self.project.deploy and not self.training and onednn_fusion_usable(x):
            return conv2d_act(self.depthwise(out), self.project.conv,
                              residual=x if self.use_residual else None)
        out = self.project(self.depthwise(out))
        return x + out if self.use_residual else out


# --------------------------------------------------------------------------------------------
# 2x2 patches
# --------------------------------------------------------------------------------------------
def unfold_patches(feature_map: torch.Tensor,
                   channels: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split an even-sized map ``(B, C, H, W)`` into 2x2 patches ``(B, C, 4, N)``.

    ``N = (H / 2) * (W / 2)`` patches in row-major order, the 4 pixels of each patch in
    row-major order: exactly ``F.unfold(x, 2, stride=2).reshape(B, C, 4, N)`` (the official
    order), written with reshapes of constant sizes and ``-1`` so tracing records no shape
    arithmetic (tensors stay at rank <= 5 for CoreML).

    Args:
        feature_map (Tensor): ``(B, C, H, W)`` with even ``H`` and ``W``.
        channels (int): ``C`` (a build-time constant).

    Returns:
        tuple[Tensor, Tensor]: The patches and the ``(B * C, 2, 2, H / 2, W / 2)`` grid view that
        :func:`fold_patches` uses as its shape reference.
    """
    grid = (feature_map.flatten(0, 1).unflatten(2, (-1, PATCH_SIZE))
            .unflatten(1, (-1, PATCH_SIZE)).permute(0, 2, 4, 1, 3))
    patches = grid.flatten(3).flatten(1, 2).unflatten(0, (-1, channels))
    return patches, grid


def fold_patches(patches: torch.Tensor, grid: torch.Tensor,
                 like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`unfold_patches` (``F.fold`` with kernel = stride = 2).

    Args:
        patches (Tensor): ``(B, C, 4, N)``.
        grid (Tensor): The grid returned by :func:`unfold_patches` (its shape is used).
        like (Tensor): A ``(B, C, H, W)`` tensor of the output shape (its shape is used).

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    return patches.flatten(0, 1).reshape_as(grid).permute(0, 3, 1, 4, 2).reshape_as(like)


def unfold_patches_nhwc(feature_map: torch.Tensor) -> torch.Tensor:
    """Eager-only :func:`unfold_patches` for channels_last maps: ``(B, C, H, W)`` -> contiguous
    ``(B, 4, N, C)`` (same patch and pixel order), in one copy of whole ``C``-vectors.

    Reads sizes from the tensor, so it is used only on the CPU inference fast path (never traced).
    """
    rows = feature_map.permute(0, 2, 3, 1)  # (B, H, W, C): a view of a channels_last map
    grid = rows.unflatten(2, (-1, PATCH_SIZE)).unflatten(1, (-1, PATCH_SIZE))
    return grid.permute(0, 2, 4, 1, 3, 5).flatten(3, 4).flatten(1, 2)


def fold_patches_nhwc(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`unfold_patches_nhwc`: ``(B, 4, N, C)`` -> channels_last
    ``(B, C, height, width)``."""
    grid = tokens.unflatten(2, (height // PATCH_SIZE, width // PATCH_SIZE)).unflatten(
        1, (PATCH_SIZE, PATCH_SIZE))  # (B, 2, 2, H / 2, W / 2, C)
    rows = grid.permute(0, 3, 1, 4, 2, 5).flatten(3, 4).flatten(1, 2)
    return rows.permute(0, 3, 1, 2)


def channels_last_fast_path(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether a block of a fused model runs its oneDNN / channels_last inference path: the
    fused form (``module.fusion`` folded), eval mode, and :func:`onednn_fusion_usable`
    (CPU float32, no autograd, not tracing, scripting or compiling)."""
    return module.fusion.deploy and not module.training and onednn_fusion_usable(x)


def onednn_pays_off(patches: torch.Tensor) -> bool:
    """Whether the transformer layers on ``patches`` ``(B, d, 4, N)`` take their oneDNN path
    (see :data:`ONEDNN_MIN_TOKEN_MACS`)."""
    batch, dim, pixels, num_patches = patches.shape
    return batch * pixels * num_patches * dim * dim >= ONEDNN_MIN_TOKEN_MACS


def spatial_size(feature_map: torch.Tensor) -> Tuple[int, int]:
    """``(H, W)`` of a map as Python ints.

    While tracing, sizes are 0-dim tensors. Converting them fixes the resize branch and sizes to
    the traced input size (the trace takes one branch anyway) and keeps shape arithmetic out of
    the graph (coremltools cannot convert it). Maps that need no resize record no size at all,
    so a trace at a size whose block inputs are all even (a multiple of 64) stays valid for
    other such sizes.
    """
    if not torch.jit.is_tracing():
        return feature_map.shape[-2], feature_map.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        return int(feature_map.shape[-2]), int(feature_map.shape[-1])


def even_size(size: Tuple[int, int]) -> Tuple[int, int]:
    """The next size divisible by the patch size (CVNets' ``ceil(s / 2) * 2``)."""
    return tuple(s + (-s) % PATCH_SIZE for s in size)


# --------------------------------------------------------------------------------------------
# v1-based global representation: pre-norm transformer on tokens (B * 4, N, d)
# --------------------------------------------------------------------------------------------
class MultiHeadSelfAttention(nn.Module):
    """Softmax multi-head self-attention with one fused ``qkv`` Linear (CVNets v0.1 layout).

    ``qkv`` rows are ``[q; k; v]``, each split into contiguous head chunks; scale
    ``head_dim ** -0.5``; output Linear ``proj``. Uses ``F.scaled_dot_product_attention``
    except while tracing, where explicit matmuls keep exporters and FLOP counters simple.

    Args:
        dim (int): Token channels.
        num_heads (int): Heads; must divide ``dim``.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def attend(self, qkv: torch.Tensor) -> torch.Tensor:
        """Attention on the ``qkv`` projection ``(B, N, 3 d)``; ``(B, N, d)`` before ``proj``."""
        q, k, v = qkv.unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4).unbind(0)
        if torch.jit.is_tracing():
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return out.transpose(1, 2).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attend(self.qkv(x)))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer of the v1-based block (CVNets ``TransformerEncoder``).

    ``x + Dropout(MHSA(LN(x)))``, then ``x + Dropout(fc2(Dropout_ffn(SiLU(fc1(LN(x))))))``; drop
    path (an addition) wraps both residual branches.

    Args:
        dim (int): Token channels.
        ffn_dim (int): FFN hidden width.
        num_heads (int): Attention heads.
        dropout (float): Dropout after attention and after the FFN. Defaults to 0.
        drop_path (float): Drop-path probability. Defaults to 0.
    """

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, dropout: float = 0.,
                 drop_path: float = 0.) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential()
        self.ffn.add_module('fc1', nn.Linear(dim, ffn_dim))
        self.ffn.add_module('act', nn.SiLU())
        self.ffn.add_module('fc2', nn.Linear(ffn_dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.attn(self.norm1(x))))
        return x + self.drop_path(self.dropout(self.ffn(self.norm2(x))))

    def forward_nhwc(self, x: torch.Tensor) -> torch.Tensor:
        """Inference on patches ``(B, d, 4, N)`` in channels_last (tokens ``(B, 4, N, d)`` in
        memory): every Linear runs as a oneDNN 1x1 convolution with a packed weight and the SiLU
        or the residual add fused in. Eval mode, no autograd (dropout and drop path are off).
        Few tokens run the plain ops on the same memory (:func:`onednn_pays_off`).
        """
        if not onednn_pays_off(x):
            tokens = x.permute(0, 2, 3, 1)
            return self.forward(tokens.flatten(0, 1)).unflatten(0, tokens.shape[:2]).permute(
                0, 3, 1, 2)

        def norm(layer_norm: nn.LayerNorm, patches: torch.Tensor) -> torch.Tensor:
            return layer_norm(patches.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

        tokens = conv2d_act(norm(self.norm1, x), self.attn.qkv).permute(0, 2, 3, 1)
        mixed = self.attn.attend(tokens.flatten(0, 1)).unflatten(0, (-1, PATCH_SIZE**2))
        x = conv2d_act(mixed.permute(0, 3, 1, 2), self.attn.proj, residual=x)
        hidden = conv2d_act_module(norm(self.norm2, x), self.ffn.fc1, self.ffn.act)
        return conv2d_act(hidden, self.ffn.fc2, residual=x)


# --------------------------------------------------------------------------------------------
# v2-based global representation: separable linear attention on patches (B, d, 4, N)
# --------------------------------------------------------------------------------------------
class SeparableSelfAttention(nn.Module):
    """MobileViTv2's separable (linear) self-attention over the patch axis ``N``.

    ``qkv`` (1x1 conv, ``1 + 2 d`` outputs) splits into one context-score channel, keys and
    values; scores are softmaxed over ``N``; the context vector ``sum_N(keys * scores)`` scales
    ``ReLU(values)``; output 1x1 conv ``proj``.

    Args:
        dim (int): Channels ``d``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.qkv = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores, keys, values = self.qkv(x).split([1, self.dim, self.dim], dim=1)
        context = (keys * scores.softmax(dim=-1)).sum(dim=-1, keepdim=True)
        return self.proj(F.relu(values) * context)

    def attend_nhwc(self, x: torch.Tensor) -> torch.Tensor:
        """Inference on channels_last patches ``(B, d, 4, N)``: the attention before ``proj``
        (channels_last), ``qkv`` through oneDNN and the context vector as one matrix product."""
        qkv = conv2d_act(x, self.qkv).permute(0, 2, 3, 1)  # (B, 4, N, 1 + 2 d)
        scores = qkv[..., :1].softmax(dim=2)
        context = scores.transpose(-2, -1) @ qkv[..., 1:1 + self.dim]  # (B, 4, 1, d)
        return F.relu(qkv[..., 1 + self.dim:]).mul_(context).permute(0, 3, 1, 2)


class LinearAttentionLayer(nn.Module):
    """Pre-norm layer of the v2-based block (CVNets ``LinearAttnFFN``) on ``(B, d, 4, N)``.

    GroupNorm with one group (CVNets ``layer_norm_2d``) before the separable attention and before
    the 1x1-conv FFN (``fc1`` + SiLU, ``fc2``); dropouts as :class:`TransformerLayer`.

    Args:
        dim (int): Channels ``d``.
        ffn_dim (int): FFN hidden width.
        dropout (float): Dropout after attention and after the FFN. Defaults to 0.
        drop_path (float): Drop-path probability. Defaults to 0.
    """

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0., drop_path: float = 0.) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)
        self.attn = SeparableSelfAttention(dim)
        self.norm2 = nn.GroupNorm(1, dim)
        self.ffn = nn.Sequential()
        self.ffn.add_module('fc1', nn.Conv2d(dim, ffn_dim, 1))
        self.ffn.add_module('act', nn.SiLU())
        self.ffn.add_module('fc2', nn.Conv2d(ffn_dim, dim, 1))
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.attn(self.norm1(x))))
        return x + self.drop_path(self.dropout(self.ffn(self.norm2(x))))

    def forward_nhwc(self, x: torch.Tensor) -> torch.Tensor:
        """Inference on channels_last patches: the 1x1 convolutions through oneDNN with the SiLU
        and the residual adds fused in (few tokens: the plain ops, :func:`onednn_pays_off`). Eval
        mode, no autograd."""
        if not onednn_pays_off(x):
            return self.forward(x)
        x = conv2d_act(self.attn.attend_nhwc(self.norm1(x)), self.attn.proj, residual=x)
        hidden = conv2d_act_module(self.norm2(x), self.ffn.fc1, self.ffn.act)
        return conv2d_act(hidden, self.ffn.fc2, residual=x)


class GlobalRepresentation(nn.Module):
    """A stack of transformer layers followed by a final norm (official ``global_rep``).

    Args:
        layers (list[nn.Module]): The transformer layers.
        norm (nn.Module): The final norm.
    """

    def __init__(self, layers: List[nn.Module], norm: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


# --------------------------------------------------------------------------------------------
# MobileViTv3 blocks
# --------------------------------------------------------------------------------------------
class MobileViTv3BlockV1(nn.Module):
    """MobileViTv3 block of the v1-based variants (XXS, XS, S; official ``MobileViTv3Block``).

    ``L = local_pw(local_dw(x))`` (3x3 depthwise ConvBN + SiLU, then a bias-free 1x1 conv to the
    transformer width ``d``); 2x2 patches of ``L`` as tokens ``(B * 4, N, d)`` through
    ``transformer`` (pre-norm softmax MHSA layers, final LayerNorm); folded back, ``global_proj``
    (1x1 ConvBN + SiLU to ``C``); ``fusion`` = 1x1 ConvBN + SiLU on ``concat(L, projected)``;
    plus the block input. Odd-sized ``L`` is bilinearly resized (``align_corners=False``) to
    the next even size for the transformer and the result resized back.

    Args:
        channels (int): Input/output channels ``C``.
        transformer_dim (int): Token channels ``d``.
        ffn_dim (int): FFN hidden width.
        depth (int): Transformer layers.
        num_heads (int): Attention heads. Defaults to 4.
        dropout (float): Transformer dropout. Defaults to 0.
        drop_paths (Sequence[float], optional): Drop-path rate per layer. Defaults to zeros.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, transformer_dim: int, ffn_dim: int, depth: int,
                 num_heads: int = 4, dropout: float = 0.,
                 drop_paths: Optional[Sequence[float]] = None, deploy: bool = False) -> None:
        super().__init__()
        drop_paths = drop_paths or [0.] * depth
        self.transformer_dim = transformer_dim
        self.local_dw = ConvBNAct(channels, channels, 3, groups=channels, deploy=deploy)
        self.local_pw = nn.Conv2d(channels, transformer_dim, 1, bias=False)
        self.transformer = GlobalRepresentation(
            [TransformerLayer(transformer_dim, ffn_dim, num_heads, dropout, drop_paths[i])
             for i in range(depth)], nn.LayerNorm(transformer_dim))
        self.global_proj = ConvBNAct(transformer_dim, channels, 1, deploy=deploy)
        self.fusion = ConvBNAct(transformer_dim + channels, channels, 1, deploy=deploy)

    def global_features(self, local: torch.Tensor) -> torch.Tensor:
        """Transformer over the 2x2 patches of ``local`` (B, d, H, W), folded to its size."""
        size = spatial_size(local)
        resized = even_size(size) != size
        even = F.interpolate(local, size=even_size(size), mode='bilinear',
                             align_corners=False) if resized else local
        patches, grid = unfold_patches(even, self.transformer_dim)
        # (B, d, 4, N) -> tokens (B * 4, N, d) and back
        tokens = self.transformer(patches.permute(0, 2, 3, 1).flatten(0, 1))
        patches = tokens.unflatten(0, (-1, PATCH_SIZE**2)).permute(0, 3, 1, 2)
        folded = fold_patches(patches, grid, even)
        if resized:
            folded = F.interpolate(folded, size=size, mode='bilinear', align_corners=False)
        return folded

    def global_features_nhwc(self, local: torch.Tensor) -> torch.Tensor:
        """:meth:`global_features` for the inference fast path (channels_last throughout)."""
        size = (local.shape[-2], local.shape[-1])
        even = even_size(size)
        if even != size:
            local = F.interpolate(local, size=even, mode='bilinear', align_corners=False)
        patches = unfold_patches_nhwc(local).permute(0, 3, 1, 2)
        for layer in self.transformer.layers:
            patches = layer.forward_nhwc(patches)
        folded = fold_patches_nhwc(self.transformer.norm(patches.permute(0, 2, 3, 1)), *even)
        if even != size:
            folded = F.interpolate(folded, size=size, mode='bilinear', align_corners=False)
        return folded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if channels_last_fast_path(self, x):
            local = conv2d_act(self.local_dw(x), self.local_pw)
            projected = self.global_proj(self.global_features_nhwc(local))
            return self.fusion(torch.cat((local, projected), dim=1)).add_(x)
        local = self.local_pw(self.local_dw(x))
        projected = self.global_proj(self.global_features(local))
        return self.fusion(torch.cat((local, projected), dim=1)) + x


class MobileViTv3BlockV2(nn.Module):
    """MobileViTv3 block of the v2-based variants (0.5, 0.75, 1.0; official ``MobileViTBlockv3``).

    An odd-sized input is first bilinearly resized (``align_corners=True``) to the next even size,
    and the block works on (and returns) that size. ``L = local_pw(local_dw(x))`` (3x3
    depthwise ConvBN + SiLU, optionally dilated; bias-free 1x1 conv to ``d``); 2x2 patches
    ``(B, d, 4, N)`` through ``transformer`` (separable-attention layers with GroupNorm(1), final
    GroupNorm(1)); folded back ``G``; ``fusion`` = 1x1 ConvBN (no activation) on
    ``concat(G, L)`` (official ``conv_proj``); plus the (resized) input.

    Args:
        channels (int): Input/output channels ``C``.
        transformer_dim (int): Attention channels ``d``.
        ffn_dim (int): FFN hidden width.
        depth (int): Attention layers.
        dilation (int): Dilation of the local depthwise conv. Defaults to 1.
        dropout (float): Dropout after attention and FFN. Defaults to 0.
        drop_paths (Sequence[float], optional): Drop-path rate per layer. Defaults to zeros.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, transformer_dim: int, ffn_dim: int, depth: int,
                 dilation: int = 1, dropout: float = 0.,
                 drop_paths: Optional[Sequence[float]] = None, deploy: bool = False) -> None:
        super().__init__()
        drop_paths = drop_paths or [0.] * depth
        self.transformer_dim = transformer_dim
        self.local_dw = ConvBNAct(channels, channels, 3, groups=channels, dilation=dilation,
                                  deploy=deploy)
        self.local_pw = nn.Conv2d(channels, transformer_dim, 1, bias=False)
        self.transformer = GlobalRepresentation(
            [LinearAttentionLayer(transformer_dim, ffn_dim, dropout, drop_paths[i])
             for i in range(depth)], nn.GroupNorm(1, transformer_dim))
        self.fusion = ConvBN(2 * transformer_dim, channels, 1, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = spatial_size(x)
        if even_size(size) != size:
            x = F.interpolate(x, size=even_size(size), mode='bilinear', align_corners=True)
        if channels_last_fast_path(self, x):
            local = conv2d_act(self.local_dw(x), self.local_pw)
            patches = unfold_patches_nhwc(local).permute(0, 3, 1, 2)
            for layer in self.transformer.layers:
                patches = layer.forward_nhwc(patches)
            patches = self.transformer.norm(patches).permute(0, 2, 3, 1)
            global_map = fold_patches_nhwc(patches, local.shape[-2], local.shape[-1])
            return conv2d_act(torch.cat((global_map, local), dim=1), self.fusion.conv, residual=x)
        local = self.local_pw(self.local_dw(x))
        patches, grid = unfold_patches(local, self.transformer_dim)
        global_map = fold_patches(self.transformer(patches), grid, local)
        return self.fusion(torch.cat((global_map, local), dim=1)) + x


# --------------------------------------------------------------------------------------------
@MODELS.register_module()
class MobileViTv3(MobileBackbone):
    """MobileViTv3 backbone (Wadekar & Chaurasia, 2022).

    ``stem`` (3x3 stride-2 ConvBN + SiLU, official ``conv_1``), then five stages (official
    ``layer_1`` ... ``layer_5``, strides 2, 4, 8, 16, 32): stage 0 one inverted residual
    (stride 1), stage 1 inverted residuals (the first with stride 2), stages 2-4 a stride-2
    inverted residual followed by a MobileViTv3 block (:class:`MobileViTv3BlockV1` for the
    v1-based variants, :class:`MobileViTv3BlockV2` for the v2-based ones). v1-based variants
    have a ``final_conv`` (official ``conv_1x1_exp``, 1x1 ConvBN + SiLU to ``min(4 C, 960)``)
    on the stage-4 output.

    Variants (``arch``); stage output channels; ``final`` = ``final_conv`` channels; transformer
    widths ``d`` and layers per block; classifier params (1000 classes, as the official README):

    ======  ====  ==================  =====  =============  =======  ==========
    arch    base  stage channels      final  d              layers   params
    ======  ====  ==================  =====  =============  =======  ==========
    xxs     v1    16/24/64/80/128     512    64/80/96       2/4/3    1,249,448
    xs      v1    32/48/96/160/160    640    96/120/144     2/4/3    2,490,360
    s       v1    32/64/128/256/320   960    144/192/240    2/4/3    5,763,912
    xxs_l2  v1    16/24/64/80/128     512    64/80/96       2/2/3    1,145,288
    xs_l2   v1    32/48/96/160/160    640    96/120/144     2/2/3    2,257,320
    s_l2    v1    32/64/128/256/320   960    144/192/240    2/2/3    5,169,864
    0.5     v2    32/64/128/192/256   -      64/96/128      2/4/3    1,429,985
    0.75    v2    48/96/192/288/384   -      96/144/192     2/4/3    2,999,641
    1.0     v2    64/128/256/384/512  -      128/192/256    2/4/3    5,139,409
    ======  ====  ==================  =====  =============  =======  ==========

    Inputs follow the official convention (no mean/std): v1-based BGR in [0, 1], v2-based RGB in
    [0, 1]; the configs' data preprocessors do the conversion.

    Args:
        arch (str | dict): A key of ``arch_settings`` or a dict with the same keys: ``base``
            (``'v1'`` or ``'v2'``), ``stem_channels``, ``channels`` (5 stage widths),
            ``mv2_blocks`` (inverted residuals of stages 0 and 1), ``expand_ratio``,
            ``transformer_dims`` and ``depths`` (stages 2-4); optional ``ffn_dims`` (default
            ``2 d``, rounded down to a multiple of 16 for v2), ``num_heads`` (v1, default 4),
            ``dropout`` (default 0). Defaults to 's'.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose outputs are returned. Defaults to
            ``(4, )``.
        frozen_stages (int): ``-1`` freezes nothing, ``0`` the stem, ``i`` the stem and stages
            ``0..i-1`` (``5`` also ``final_conv``). Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing per stage block while training. Defaults to False.
        drop_path_rate (float): Stochastic depth over the transformer layers, linearly
            increasing; the official models have none. Defaults to 0.
        final_conv (bool): Apply the v1-based ``final_conv`` to the stage-4 output (keep it for
            classification; the official detectors/segmenters drop it). Ignored (absent) for
            v2-based variants. Defaults to True.
        out_stride (int): 32, 16 (stage 4 dilated) or 8 (stages 3 and 4 dilated). Defaults
            to 32.
        dropout (float, optional): Dropout after attention and after the FFN of every
            transformer layer; None takes the official value of ``arch`` (XXS 0.05, XS and S
            0.1, v2-based 0). Defaults to None.
        deploy (bool): Build the fused form (every ConvBN folded) directly. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config. By default the official
            init is applied at construction (conv Kaiming-normal fan-out, Linear trunc-normal
            std 0.02, zero biases, norms 1/0).

    Attributes:
        out_channels (list[int]): Output channels of each stage index (stage 4 with
            ``final_conv`` included where present).

    Example:
        >>> import torch
        >>> from mmmobile.models import MobileViTv3
        >>> model = MobileViTv3('xxs', out_indices=(0, 1, 2, 3, 4)).eval()
        >>> for out in model(torch.rand(1, 3, 256, 256)):
        ...     print(tuple(out.shape))
        (1, 16, 128, 128)
        (1, 24, 64, 64)
        (1, 64, 32, 32)
        (1, 80, 16, 16)
        (1, 512, 8, 8)
    """

    arch_settings: Dict[str, Dict] = {
        'xxs': dict(base='v1', stem_channels=16, channels=[16, 24, 64, 80, 128],
                    mv2_blocks=[1, 3], expand_ratio=2, transformer_dims=[64, 80, 96],
                    depths=[2, 4, 3], num_heads=4, dropout=0.05),
        'xs': dict(base='v1', stem_channels=16, channels=[32, 48, 96, 160, 160],
                   mv2_blocks=[1, 3], expand_ratio=4, transformer_dims=[96, 120, 144],
                   depths=[2, 4, 3], num_heads=4, dropout=0.1),
        's': dict(base='v1', stem_channels=16, channels=[32, 64, 128, 256, 320],
                  mv2_blocks=[1, 3], expand_ratio=4, transformer_dims=[144, 192, 240],
                  depths=[2, 4, 3], num_heads=4, dropout=0.1),
        'xxs_l2': dict(base='v1', stem_channels=16, channels=[16, 24, 64, 80, 128],
                       mv2_blocks=[1, 3], expand_ratio=2, transformer_dims=[64, 80, 96],
                       depths=[2, 2, 3], num_heads=4, dropout=0.05),
        'xs_l2': dict(base='v1', stem_channels=16, channels=[32, 48, 96, 160, 160],
                      mv2_blocks=[1, 3], expand_ratio=4, transformer_dims=[96, 120, 144],
                      depths=[2, 2, 3], num_heads=4, dropout=0.1),
        's_l2': dict(base='v1', stem_channels=16, channels=[32, 64, 128, 256, 320],
                     mv2_blocks=[1, 3], expand_ratio=4, transformer_dims=[144, 192, 240],
                     depths=[2, 2, 3], num_heads=4, dropout=0.1),
        '0.5': dict(base='v2', stem_channels=16, channels=[32, 64, 128, 192, 256],
                    mv2_blocks=[1, 2], expand_ratio=2, transformer_dims=[64, 96, 128],
                    depths=[2, 4, 3]),
        '0.75': dict(base='v2', stem_channels=24, channels=[48, 96, 192, 288, 384],
                     mv2_blocks=[1, 2], expand_ratio=2, transformer_dims=[96, 144, 192],
                     depths=[2, 4, 3]),
        '1.0': dict(base='v2', stem_channels=32, channels=[64, 128, 256, 384, 512],
                    mv2_blocks=[1, 2], expand_ratio=2, transformer_dims=[128, 192, 256],
                    depths=[2, 4, 3]),
    }
    #: Measured (2 CPU threads, interleaved, 256x256): the unfused models run 18-32% faster in
    #: channels_last; the fused ones equally fast or up to 5% faster (their CPU inference path
    #: converts an NCHW input at the stem anyway).
    preferred_memory_format = 'channels_last'
    num_stages = 5

    def __init__(self,
                 arch: Union[str, Dict] = 's',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (4, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 final_conv: bool = True,
                 out_stride: int = 32,
                 dropout: Optional[float] = None,
                 deploy: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        channels = self.arch['channels']
        if out_stride not in (8, 16, 32):
            raise ValueError(f'out_stride must be 8, 16 or 32, got {out_stride}')
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.out_indices = self._normalize_out_indices(out_indices, self.num_stages)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.out_stride = out_stride
        self.deploy = deploy
        self.is_v1_based = self.arch['base'] == 'v1'
        dropout = self.arch['dropout'] if dropout is None else dropout

        self.stem = ConvBNAct(in_channels, self.arch['stem_channels'], 3, stride=2,
                              deploy=deploy)
        expand_ratio = self.arch['expand_ratio']
        self.stages = nn.ModuleList()
        previous = self.arch['stem_channels']
        for stage, num_blocks in enumerate(self.arch['mv2_blocks']):
            blocks = []
            for index in range(num_blocks):
                stride = 2 if stage == 1 and index == 0 else 1
                blocks.append(InvertedResidual(previous, channels[stage], stride, expand_ratio,
                                               deploy=deploy))
                previous = channels[stage]
            self.stages.append(nn.Sequential(*blocks))

        depths = self.arch['depths']
        drop_rates = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        # CVNets' output_stride: dilate the last stages instead of striding them.
        dilated_stages = {16: {4}, 8: {3, 4}}.get(out_stride, set())
        dilation = 1
        for index, (dim, ffn_dim, depth) in enumerate(
                zip(self.arch['transformer_dims'], self.arch['ffn_dims'], depths)):
            stage = index + 2
            stride, mv2_dilation = 2, dilation
            if stage in dilated_stages:
                stride, dilation = 1, dilation * 2
            start = sum(depths[:index])
            drop_paths = drop_rates[start:start + depth]
            downsample = InvertedResidual(previous, channels[stage], stride, expand_ratio,
                                          dilation=mv2_dilation, deploy=deploy)
            if self.is_v1_based:
                block = MobileViTv3BlockV1(channels[stage], dim, ffn_dim, depth,
                                           self.arch['num_heads'], dropout, drop_paths,
                                           deploy=deploy)
            else:
                block = MobileViTv3BlockV2(channels[stage], dim, ffn_dim, depth, dilation,
                                           dropout, drop_paths, deploy=deploy)
            self.stages.append(nn.Sequential(downsample, block))
            previous = channels[stage]

        self.out_channels = list(channels)
        self.has_final_conv = self.is_v1_based and final_conv
        if self.has_final_conv:
            final_channels = min(4 * channels[-1], 960)
            self.final_conv = ConvBNAct(channels[-1], final_channels, 1, deploy=deploy)
            self.out_channels[-1] = final_channels
        self.apply(hybrid_init)

    def _parse_arch(self, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_settings:
                raise ValueError(f'Unknown MobileViTv3 arch {arch!r}; choose one of '
                                 f'{sorted(self.arch_settings)} or pass a dict')
            arch = self.arch_settings[arch.lower()]
        elif not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        required = {'base', 'stem_channels', 'channels', 'mv2_blocks', 'expand_ratio',
                    'transformer_dims', 'depths'}
        missing = required - set(arch)
        if missing:
            raise ValueError(f'MobileViTv3 arch dict is missing {sorted(missing)}')
        arch = copy.deepcopy(arch)
        if arch['base'] not in ('v1', 'v2'):
            raise ValueError(f"arch base must be 'v1' or 'v2', got {arch['base']!r}")
        for key, length in (('channels', 5), ('mv2_blocks', 2), ('transformer_dims', 3),
                            ('depths', 3)):
            if len(arch[key]) != length:
                raise ValueError(f'arch {key} must have {length} entries, got {arch[key]}')
        if arch['base'] == 'v1':
            default_ffn = [2 * d for d in arch['transformer_dims']]
        else:  # CVNets v0.2 rounds the FFN width down to a multiple of 16
            default_ffn = [2 * d // 16 * 16 for d in arch['transformer_dims']]
        arch.setdefault('ffn_dims', default_ffn)
        arch.setdefault('num_heads', 4)
        arch.setdefault('dropout', 0.)
        if len(arch['ffn_dims']) != 3:
            raise ValueError(f"arch ffn_dims must have 3 entries, got {arch['ffn_dims']}")
        return arch

    def _frozen_modules(self) -> List[nn.Module]:
        modules = super()._frozen_modules()
        if self.frozen_stages == self.num_stages and self.has_final_conv:
            modules.append(self.final_conv)
        return modules

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for index, stage in enumerate(self.stages):
            for block in stage:
                x = self._run_block(block, x)
            if index in self.out_indices:
                if index == self.num_stages - 1 and self.has_final_conv:
                    outs.append(self.final_conv(x))
                else:
                    outs.append(x)
        return tuple(outs)
