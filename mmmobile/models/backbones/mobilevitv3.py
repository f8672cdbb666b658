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
``with_cp``. The 2x2 patch unfolding and folding (:func:`unfold_patches`) are reshapes and
permutes whose sizes are constants or ``-1`` (never read from tensor shapes), in the official
patch order (``F.unfold``'s): ``torch.jit.trace``, ONNX opset 17 and CoreML see static shapes,
and a channels_last map becomes tokens, and tokens a channels_last map, without a layout change.

The deploy form (:meth:`MobileViTv3.switch_to_deploy`, ``deploy=True``) folds every BatchNorm
and runs every convolution, the bias-free local 1x1 projections and the 1x1 convolutions of
the v2-based attention layers included, as a
:class:`~mmmobile.models.layers.fused.FusedConvAct` (oneDNN with packed weights and the SiLU or
residual add fused in, in CPU inference). The v1-based transformer keeps its ``nn.Linear`` s.
"""
import collections
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

from mmmobile.registry import MODELS
from ..layers import ConvBN, FusedConvAct, hybrid_init, make_divisible, reparameterize_children
from ..layers.attention import attention, spatial_size
from .base import MobileBackbone

PATCH_SIZE = 2  # 2x2 patches in every block of every official variant


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
            self.expand = ConvBN(in_channels, hidden, 1, act_layer=nn.SiLU, deploy=deploy)
        self.depthwise = ConvBN(hidden, hidden, 3, stride=stride, groups=hidden,
                                dilation=dilation, act_layer=nn.SiLU, deploy=deploy)
        self.project = ConvBN(hidden, out_channels, 1, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``project(depthwise(expand(x)))``, plus ``x`` when the block has the residual."""
        out = self.depthwise(self.expand(x) if hasattr(self, 'expand') else x)
        return self.project(out, residual=x if self.use_residual else None)


# --------------------------------------------------------------------------------------------
# 2x2 patches
# --------------------------------------------------------------------------------------------
def unfold_patches(feature_map: torch.Tensor,
                   channels: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split an even-sized map ``(B, C, H, W)`` into the tokens of its 2x2 patches.

    Token ``n`` of group ``b * 4 + p`` is pixel ``p`` (row-major in the patch) of patch ``n``
    (row-major over the ``H / 2 x W / 2`` patches) of image ``b``: exactly
    ``F.unfold(x, 2, stride=2).reshape(B, C, 4, N).permute(0, 2, 3, 1)`` (the official order).
    Two copies of whole rows and channel vectors, at rank <= 5 (for CoreML), with constant sizes
    and ``-1`` only (tracing records no shape arithmetic); a channels_last map is read in place.

    Args:
        feature_map (Tensor): ``(B, C, H, W)`` with even ``H`` and ``W``.
        channels (int): ``C`` (a build-time constant).

    Returns:
        tuple[Tensor, Tensor]: Contiguous tokens ``(B * 4, N, C)`` and a ``(B * 2, 2, H / 2,
        W / 2, C)`` view whose shape :func:`fold_patches` uses.
    """
    rows = feature_map.permute(0, 2, 3, 1).flatten(2)  # (B, H, W * C)
    rows = rows.unflatten(1, (-1, PATCH_SIZE)).transpose(1, 2).flatten(0, 1)  # (B * 2, H / 2, W C)
    grid = rows.unflatten(2, (-1, PATCH_SIZE, channels)).permute(0, 3, 1, 2, 4)
    return grid.flatten(0, 1).flatten(1, 2), grid


def fold_patches(tokens: torch.Tensor, grid: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of :func:`unfold_patches` (``F.fold`` with kernel = stride = 2).

    Args:
        tokens (Tensor): ``(B * 4, N, C)``.
        grid (Tensor): The view returned by :func:`unfold_patches` (its shape is used).
        channels (int): ``C`` (a build-time constant).

    Returns:
        Tensor: The ``(B, C, H, W)`` map, channels_last.
    """
    rows = tokens.reshape_as(grid).permute(0, 2, 3, 1, 4).flatten(2)  # (B * 2, H / 2, W C)
    rows = rows.unflatten(0, (-1, PATCH_SIZE)).transpose(1, 2).flatten(1, 2)  # (B, H, W C)
    return rows.unflatten(2, (-1, channels)).permute(0, 3, 1, 2)


def even_size(size: Tuple[int, int]) -> Tuple[int, int]:
    """The next size divisible by the patch size (CVNets' ``ceil(s / 2) * 2``)."""
    return tuple(s + (-s) % PATCH_SIZE for s in size)


# --------------------------------------------------------------------------------------------
# v1-based global representation: pre-norm transformer on tokens (B * 4, N, d)
# --------------------------------------------------------------------------------------------
class MultiHeadSelfAttention(nn.Module):
    """Softmax multi-head self-attention with one fused ``qkv`` Linear (CVNets v0.1 layout).

    ``qkv`` rows are ``[q; k; v]``, each split into contiguous head chunks; scale
    ``head_dim ** -0.5``; output Linear ``proj``.

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, N, d)`` -> tokens ``(B, N, d)``."""
        qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, -1))  # (B, N, 3, heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(attention(q, k, v, self.scale).transpose(1, 2).flatten(2))


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
        self.ffn = nn.Sequential(
            collections.OrderedDict(
                fc1=nn.Linear(dim, ffn_dim), act=nn.SiLU(), fc2=nn.Linear(ffn_dim, dim)))
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.attn(self.norm1(x))))
        return x + self.drop_path(self.dropout(self.ffn(self.norm2(x))))


# --------------------------------------------------------------------------------------------
# v2-based global representation: separable linear attention on patches (B, d, 4, N)
# --------------------------------------------------------------------------------------------
class SeparableSelfAttention(nn.Module):
    """MobileViTv2's separable (linear) self-attention over the patch axis ``N``.

    ``qkv`` (1x1 conv, ``1 + 2 d`` outputs) splits into one context-score channel, keys and
    values; scores are softmaxed over ``N``; the context vector ``sum_N(keys * scores)`` scales
    ``ReLU(values)``; output 1x1 conv ``proj``. In the deploy form both convolutions are
    :class:`~mmmobile.models.layers.fused.FusedConvAct` s.

    Args:
        dim (int): Channels ``d``.
        deploy (bool): Build the deploy form directly. Defaults to False.
    """

    def __init__(self, dim: int, deploy: bool = False) -> None:
        super().__init__()
        self.dim = dim
        self.deploy = False
        self.qkv = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        if deploy:
            self.switch_to_deploy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores, keys, values = self.qkv(x).split([1, self.dim, self.dim], dim=1)
        context = (keys * scores.softmax(dim=-1)).sum(dim=-1, keepdim=True)
        return self.proj(F.relu(values) * context)

    def switch_to_deploy(self) -> None:
        """Make both convolutions fused ones (same parameters and keys)."""
        if not self.deploy:
            self.qkv, self.proj = FusedConvAct(self.qkv), FusedConvAct(self.proj)
            self.deploy = True


class LinearAttentionLayer(nn.Module):
    """Pre-norm layer of the v2-based block (CVNets ``LinearAttnFFN``) on ``(B, d, 4, N)``.

    GroupNorm with one group (CVNets ``layer_norm_2d``) before the separable attention and before
    the 1x1-conv FFN (``fc1`` + SiLU, ``fc2``); dropouts as :class:`TransformerLayer`. In the
    deploy form the FFN is two :class:`~mmmobile.models.layers.fused.FusedConvAct` s (SiLU fused
    into ``fc1``).

    Args:
        dim (int): Channels ``d``.
        ffn_dim (int): FFN hidden width.
        dropout (float): Dropout after attention and after the FFN. Defaults to 0.
        drop_path (float): Drop-path probability. Defaults to 0.
        deploy (bool): Build the deploy form directly. Defaults to False.
    """

    def __init__(self, dim: int, ffn_dim: int, dropout: float = 0., drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = False
        self.norm1 = nn.GroupNorm(1, dim)
        self.attn = SeparableSelfAttention(dim)
        self.norm2 = nn.GroupNorm(1, dim)
        self.ffn = nn.Sequential(
            collections.OrderedDict(
                fc1=nn.Conv2d(dim, ffn_dim, 1), act=nn.SiLU(), fc2=nn.Conv2d(ffn_dim, dim, 1)))
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if deploy:
            self.switch_to_deploy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.attn(self.norm1(x))))
        return x + self.drop_path(self.dropout(self.ffn(self.norm2(x))))

    def switch_to_deploy(self) -> None:
        """Fused convolutions in the attention and the FFN (same parameters and keys)."""
        if self.deploy:
            return
        self.attn.switch_to_deploy()
        self.ffn = nn.Sequential(
            collections.OrderedDict(
                fc1=FusedConvAct(self.ffn.fc1, self.ffn.act), fc2=FusedConvAct(self.ffn.fc2)))
        self.deploy = True


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
class MobileViTv3BlockBase(nn.Module):
    """What both block kinds share: the local representation (official ``local_rep``).

    ``local_pw(local_dw(x))``: 3x3 depthwise ConvBN + SiLU (optionally dilated), then a
    bias-free 1x1 conv to the transformer width ``d``. Subclasses add the global part and the
    fusion.

    Args:
        channels (int): Input channels ``C``.
        transformer_dim (int): Output channels ``d``.
        dilation (int): Dilation of the depthwise conv. Defaults to 1.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, transformer_dim: int, dilation: int = 1,
                 deploy: bool = False) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.deploy = deploy
        self.local_dw = ConvBN(channels, channels, 3, groups=channels, dilation=dilation,
                               act_layer=nn.SiLU, deploy=deploy)
        conv = nn.Conv2d(channels, transformer_dim, 1, bias=False)
        self.local_pw = FusedConvAct(conv) if deploy else conv

    def local_features(self, x: torch.Tensor) -> torch.Tensor:
        """``local_pw(local_dw(x))``."""
        return self.local_pw(self.local_dw(x))

    def switch_to_deploy(self) -> None:
        """Fold the ConvBNs; the bias-free 1x1 projection becomes a fused convolution."""
        if self.deploy:
            return
        reparameterize_children(self)
        self.local_pw = FusedConvAct(self.local_pw)
        self.deploy = True


class MobileViTv3BlockV1(MobileViTv3BlockBase):
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
        super().__init__(channels, transformer_dim, deploy=deploy)
        drop_paths = drop_paths or [0.] * depth
        self.transformer = GlobalRepresentation(
            [TransformerLayer(transformer_dim, ffn_dim, num_heads, dropout, drop_paths[i])
             for i in range(depth)], nn.LayerNorm(transformer_dim))
        self.global_proj = ConvBN(transformer_dim, channels, 1, act_layer=nn.SiLU,
                                  deploy=deploy)
        self.fusion = ConvBN(transformer_dim + channels, channels, 1, act_layer=nn.SiLU,
                             deploy=deploy)

    def global_features(self, local: torch.Tensor) -> torch.Tensor:
        """Transformer over the 2x2 patches of ``local`` (B, d, H, W), folded to its size."""
        size = spatial_size(local)
        resized = even_size(size) != size
        even = F.interpolate(local, size=even_size(size), mode='bilinear',
                             align_corners=False) if resized else local
        tokens, grid = unfold_patches(even, self.transformer_dim)
        folded = fold_patches(self.transformer(tokens), grid, self.transformer_dim)
        if resized:
            folded = F.interpolate(folded, size=size, mode='bilinear', align_corners=False)
        return folded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.local_features(x)
        projected = self.global_proj(self.global_features(local))
        return self.fusion(torch.cat((local, projected), dim=1), residual=x)


class MobileViTv3BlockV2(MobileViTv3BlockBase):
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
        super().__init__(channels, transformer_dim, dilation, deploy)
        drop_paths = drop_paths or [0.] * depth
        self.transformer = GlobalRepresentation(
            [LinearAttentionLayer(transformer_dim, ffn_dim, dropout, drop_paths[i], deploy)
             for i in range(depth)], nn.GroupNorm(1, transformer_dim))
        self.fusion = ConvBN(2 * transformer_dim, channels, 1, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = spatial_size(x)
        if even_size(size) != size:
            x = F.interpolate(x, size=even_size(size), mode='bilinear', align_corners=True)
        local = self.local_features(x)
        tokens, grid = unfold_patches(local, self.transformer_dim)
        # tokens (B * 4, N, d) are the patches (B, d, 4, N) in channels_last: views both ways
        patches = self.transformer(tokens.unflatten(0, (-1, PATCH_SIZE**2)).permute(0, 3, 1, 2))
        global_map = fold_patches(patches.permute(0, 2, 3, 1).flatten(0, 1), grid,
                                  self.transformer_dim)
        return self.fusion(torch.cat((global_map, local), dim=1), residual=x)


# --------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------
#: The v1-based variants (official ``MobileViTv3-v1`` config ``mobilevit.py``, modes
#: ``xx_small_v3``, ``x_small_v3``, ``small_v3``); their L2 forms are derived by
#: :func:`low_latency_arch`, the v2-based variants by :func:`width_arch`.
V1_ARCHS: Dict[str, Dict] = {
    'xxs': dict(base='v1', stem_channels=16, channels=[16, 24, 64, 80, 128], mv2_blocks=[1, 3],
                expand_ratio=2, transformer_dims=[64, 80, 96], depths=[2, 4, 3], num_heads=4,
                dropout=0.05),
    'xs': dict(base='v1', stem_channels=16, channels=[32, 48, 96, 160, 160], mv2_blocks=[1, 3],
               expand_ratio=4, transformer_dims=[96, 120, 144], depths=[2, 4, 3], num_heads=4,
               dropout=0.1),
    's': dict(base='v1', stem_channels=16, channels=[32, 64, 128, 256, 320], mv2_blocks=[1, 3],
              expand_ratio=4, transformer_dims=[144, 192, 240], depths=[2, 4, 3], num_heads=4,
              dropout=0.1),
}


def low_latency_arch(arch: Dict) -> Dict:
    """The "L2" (low-latency) form of a v1-based arch: two instead of four transformer layers
    in the stage-3 block (official modes ``*_v3_fast``)."""
    depths = list(arch['depths'])
    depths[1] = 2
    return dict(arch, depths=depths)


def width_arch(width: float) -> Dict:
    """The v2-based arch of width multiplier ``width`` (official ``MobileViTv3-v2`` config
    ``mobilevit_v3.py``, CVNets v0.2 arithmetic; FFN and MV2 expansion ratios fixed at 2).

    Stem ``make_divisible(clip(32 w, 16, 64), 8)``, stage 0 ``make_divisible(64 w, 16)``,
    stages 1-4 ``make_divisible(c w, 8)`` for ``c`` = 128, 256, 384, 512, transformer widths
    ``make_divisible(d w, 8)`` for ``d`` = 128, 192, 256.
    """
    stem = make_divisible(min(max(32 * width, 16), 64), 8, min_value=16)
    channels = [make_divisible(64 * width, 16)] + [make_divisible(c * width, 8)
                                                   for c in (128, 256, 384, 512)]
    return dict(base='v2', stem_channels=stem, channels=channels, mv2_blocks=[1, 2],
                expand_ratio=2, transformer_dims=[make_divisible(d * width, 8)
                                                  for d in (128, 192, 256)],
                depths=[2, 4, 3])


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
        deploy (bool): Build the deploy form (see the module docstring) directly, to load
            fused checkpoints. Defaults to False.
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

    arch_required_keys = ('base', 'stem_channels', 'channels', 'mv2_blocks', 'expand_ratio',
                          'transformer_dims', 'depths')
    arch_settings: Dict[str, Dict] = {
        **V1_ARCHS,
        **{f'{name}_l2': low_latency_arch(arch) for name, arch in V1_ARCHS.items()},
        **{str(width): width_arch(width) for width in (0.5, 0.75, 1.0)},
    }
    preferred_memory_format = 'channels_last'  # inference layout, see mmmobile.layout
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

        self.stem = ConvBN(in_channels, self.arch['stem_channels'], 3, stride=2,
                           act_layer=nn.SiLU, deploy=deploy)
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
            self.final_conv = ConvBN(channels[-1], final_channels, 1, act_layer=nn.SiLU,
                                     deploy=deploy)
            self.out_channels[-1] = final_channels
        self.apply(hybrid_init)

    def _complete_arch(self, arch: Dict) -> Dict:
        """Check the lengths and ``base``; default ``ffn_dims`` (``2 d``, rounded down to a
        multiple of 16 for v2 as CVNets v0.2), ``num_heads`` (4) and ``dropout`` (0)."""
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
