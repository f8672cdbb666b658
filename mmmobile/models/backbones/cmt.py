# Copyright (c) mmmobile contributors. All rights reserved.
"""CMT: Convolutional Neural Networks Meet Vision Transformers.

Paper: Jianyuan Guo, Kai Han, Han Wu, Yehui Tang, Xinghao Chen, Yunhe Wang, Chang Xu, CVPR 2022,
https://arxiv.org/abs/2107.06263. Re-implemented from the description of the official code
(https://github.com/huawei-noah/Efficient-AI-Backbones, ``cmt_pytorch/cmt.py``); at each
variant's native resolution the parameter counts and the outputs equal the official model's.

Where the official code and the paper differ, this file follows the code:

- CMT-S has 26,256,160 parameters at 224x224 (the paper prints 25.1M; Ti, XS and B match the
  paper). The released checkpoint loads strictly only into the code's layout.
- The stem and the IRFFN apply GELU *before* BatchNorm, and the K/V reduction is a depthwise
  conv followed by BatchNorm (not LayerNorm as in PVT).
- The relative position bias is one dense ``(heads, N_q, N_kv)`` parameter per stage, shared by
  all blocks of the stage and added to the scaled attention logits.

Additions over the official code (which asserts its build-time input size):

- Any input size. The bias is stored at the build-time grid (``img_size``, by default the
  variant's native resolution) and, for any other grid, resized per head with bicubic
  interpolation: first over the query grid, then over the key grid (the separable product of the
  two 2-D resizes, computed in the cheaper order; nothing larger than the resized bias itself is
  materialized). It is computed once per stage and forward and shared by the stage's blocks; at
  inference (grad mode off) it is kept for the last grid and reused until the grid or the
  parameter changes. At the build-time grid the stored parameter is used unchanged.
- Sizes not divisible by the strides: the 2x2 patch embeddings and the KxK key/value reduction
  convs zero-pad the right and bottom edge up to a multiple of their stride (mmcv's
  ``AdaptivePadding`` "corner" mode, as Swin/PVT in OpenMMLab), so every stage has
  ``ceil(H / stride)`` rows and no pixel is dropped. At sizes divisible by 32 nothing is padded
  and the arithmetic is the official one.
- Attention runs through :func:`~mmmobile.models.layers.attention.attention`
  (``F.scaled_dot_product_attention``; explicit matmuls while tracing).
- The 1x1 conv (1280) + BN + Swish before pooling and the classifier belong to
  :class:`~mmmobile.models.heads.CMTClsHead`; dense tasks use the backbone without them.
- The block dropouts of the official constructor (``drop_rate``, ``attn_drop_rate``) are 0 in
  every released model and are not provided.

Re-parameterization (:meth:`CMT.switch_to_deploy`) performs only folds that are exact for every
input size: the key/value reduction conv + BN, the LPU and IRFFN depthwise conv + identity, the
IRFFN ``BN -> 1x1 conv -> BN`` chain, and merges k/v (stages 1-3) or q/k/v (stage 4) into one
Linear. It does not fold BatchNorms into a following zero-padded conv (the stem BNs and the IRFFN
expansion BN), which would change the border pixels, nor the last stem BN into the first patch
embedding, which is exact only when that embedding pads nothing (even stem output sizes).
"""
import functools
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.utils import to_2tuple

from mmmobile.registry import MODELS
from ..layers import ConvBN, FusedConvAct, conv_like, hybrid_init, identity_kernel
from ..layers.attention import attention, spatial_size
from ..layers.memo import InferenceMemo
from ..layers.reparam import fold_bn_into_next
from .base import MobileBackbone

Grid = Tuple[int, int]


def ceil_grid(grid: Grid, stride: int) -> Grid:
    """Output grid of a stride-``stride`` layer that pads its input up to a multiple of it."""
    return -(-grid[0] // stride), -(-grid[1] // stride)


def pad_to_multiple(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Zero-pad the bottom and right edge of ``x`` (N, C, H, W) to multiples of ``stride``."""
    height, width = spatial_size(x)
    pad_h = -height % stride
    pad_w = -width % stride
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def token_map(tokens: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Tokens ``(B, H * W, C)`` -> map ``(B, C, H, W)`` (a view, channels_last, when the tokens
    are contiguous)."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)


def map_tokens(x: torch.Tensor) -> torch.Tensor:
    """Map ``(B, C, H, W)`` -> tokens ``(B, H * W, C)`` (a view of a channels_last map)."""
    return x.flatten(2).transpose(1, 2)


def resize_relative_position_bias(bias: torch.Tensor, src_query: Grid, src_key: Grid,
                                  dst_query: Grid, dst_key: Grid,
                                  mode: str = 'bicubic') -> torch.Tensor:
    """Resize a dense ``(heads, N_q, N_kv)`` attention bias to other query and key grids.

    Each head's bias is a function of a query position and a key position. It is resized over
    the query grid first (``heads * N_kv`` maps of size ``src_query``) and then over the key grid
    (``heads * N_q'`` maps of size ``src_key``); the two resizes act on different axes, so the
    result is their separable product and the only large tensor is the output. A grid that does
    not change is not touched.

    Args:
        bias (Tensor): Bias of shape ``(heads, Hq * Wq, Hk * Wk)``.
        src_query (tuple[int, int]): ``(Hq, Wq)`` of ``bias``.
        src_key (tuple[int, int]): ``(Hk, Wk)`` of ``bias``.
        dst_query (tuple[int, int]): Target query grid.
        dst_key (tuple[int, int]): Target key grid.
        mode (str): ``F.interpolate`` mode. Defaults to 'bicubic'.

    Returns:
        Tensor: Bias of shape ``(heads, dst_query[0] * dst_query[1], dst_key[0] * dst_key[1])``.
    """
    heads, num_query, num_key = bias.shape
    if num_query != src_query[0] * src_query[1] or num_key != src_key[0] * src_key[1]:
        raise ValueError(f'bias of shape {tuple(bias.shape)} does not match query grid '
                         f'{src_query} and key grid {src_key}')
    align = dict(align_corners=False) if mode in ('linear', 'bilinear', 'bicubic') else {}
    if tuple(dst_query) != tuple(src_query):
        maps = bias.transpose(1, 2).reshape(heads, num_key, *src_query)
        maps = F.interpolate(maps, size=tuple(dst_query), mode=mode, **align)
        bias = maps.flatten(2).transpose(1, 2)
        num_query = dst_query[0] * dst_query[1]
    if tuple(dst_key) != tuple(src_key):
        maps = bias.reshape(1, heads * num_query, *src_key)
        maps = F.interpolate(maps, size=tuple(dst_key), mode=mode, **align)
        bias = maps.reshape(heads, num_query, dst_key[0] * dst_key[1])
    return bias


class ConvGELUBN(nn.Module):
    """``Conv2d`` (bias) -> GELU -> ``BatchNorm2d``: the CMT stem and IRFFN expansion unit.

    The activation comes before the BatchNorm (official order), so the BatchNorm cannot be folded
    into this conv; it is kept in every form. The deploy form fuses the GELU into the
    convolution (:class:`~mmmobile.models.layers.fused.FusedConvAct`).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size, padded by ``kernel_size // 2``. Defaults to 1.
        stride (int): Stride. Defaults to 1.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                         bias=True)
        if deploy:
            self.conv = FusedConvAct(conv, nn.GELU())
        else:
            self.conv = conv
            self.act = nn.GELU()
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.bn(self.conv(x))
        return self.bn(self.act(self.conv(x)))

    def switch_to_deploy(self) -> None:
        """Fuse the GELU into the convolution, in place."""
        if self.deploy:
            return
        self.conv = FusedConvAct(self.conv, self.act)
        del self.act
        self.deploy = True


class ResidualDWConv(nn.Module):
    """``act(dwconv3x3(x) + x)`` (CMT's LPU without, the IRFFN depthwise branch with GELU).

    The deploy form is one :class:`~mmmobile.models.layers.fused.FusedConvAct` ``fused``: the
    identity folded into the centre tap of the depthwise kernel (exact for every input size) and
    the activation fused in.

    Args:
        channels (int): Channels.
        act_layer (type, optional): Activation class after the sum, or None. Defaults to None.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, act_layer: Optional[type] = None,
                 deploy: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.deploy = deploy
        conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=True)
        act = act_layer() if act_layer is not None else None
        if deploy:
            self.fused = FusedConvAct(conv, act)
        else:
            self.conv = conv
            self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.fused(x)
        x = self.conv(x) + x
        return x if self.act is None else self.act(x)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Add the identity to the depthwise kernel and fuse the activation, in place."""
        if self.deploy:
            return
        weight = self.conv.weight + identity_kernel(self.channels, 3, self.channels,
                                                    like=self.conv.weight)
        self.fused = FusedConvAct(conv_like(self.conv, weight, self.conv.bias), self.act)
        del self.conv, self.act
        self.deploy = True


class CMTPatchEmbed(nn.Module):
    """2x2 stride-2 conv (bias) + LayerNorm (eps 1e-5): CMT's per-stage downsampling.

    Odd inputs are zero-padded at the bottom/right, so the output grid is ``ceil(H / 2)``.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels.
    """

    def __init__(self, in_channels: int, embed_dims: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, 2, 2, bias=True)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Grid]:
        """Map ``(B, C, H, W)`` to tokens ``(B, N, C')`` and their grid ``(H', W')``."""
        x = self.proj(pad_to_multiple(x, 2))
        grid = spatial_size(x)
        return self.norm(map_tokens(x)), grid


class CMTAttention(nn.Module):
    """Lightweight multi-head self-attention (LMHSA) with K/V reduction.

    Queries come from all tokens; keys and values from the tokens reduced by a depthwise
    ``sr_ratio x sr_ratio`` stride-``sr_ratio`` conv + BatchNorm (zero-padded at the bottom/right
    when the grid is not a multiple of ``sr_ratio``). Separate ``q``, ``k``, ``v`` Linears with
    bias, scale ``(dim / heads) ** -0.5``, the stage's relative position bias added to the scaled
    logits, then the output Linear ``proj``.

    In the deploy form the reduction is one biased conv and k/v (``sr_ratio > 1``) or q/k/v
    (``sr_ratio == 1``) are one Linear (``kv`` or ``qkv``).

    Args:
        dim (int): Channels.
        num_heads (int): Attention heads.
        sr_ratio (int): K/V reduction factor.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, deploy: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.dim = dim
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.scale = (dim // num_heads)**-0.5
        self.deploy = deploy
        if deploy and sr_ratio == 1:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q = nn.Linear(dim, dim)
            if deploy:
                self.kv = nn.Linear(dim, 2 * dim)
            else:
                self.k = nn.Linear(dim, dim)
                self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = ConvBN(dim, dim, sr_ratio, stride=sr_ratio, padding=0, groups=dim, bias=True,
                             deploy=deploy)

    def reduce(self, x: torch.Tensor, grid: Grid) -> torch.Tensor:
        """Tokens ``(B, N, C)`` on ``grid`` -> reduced tokens ``(B, N / sr^2, C)``."""
        if self.sr_ratio == 1:
            return x
        return map_tokens(self.sr(pad_to_multiple(token_map(x, grid), self.sr_ratio)))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.reshape(batch, tokens, self.num_heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, grid: Grid, bias: torch.Tensor) -> torch.Tensor:
        """Attend from tokens ``x`` (B, N, C) on ``grid`` with the stage bias (h, N, N_kv)."""
        batch, tokens, channels = x.shape
        if self.deploy and self.sr_ratio == 1:
            q, k, v = self.qkv(x).split(channels, dim=-1)
        elif self.deploy:
            q = self.q(x)
            k, v = self.kv(self.reduce(x, grid)).split(channels, dim=-1)
        else:
            q = self.q(x)
            reduced = self.reduce(x, grid)
            k, v = self.k(reduced), self.v(reduced)
        out = attention(self._heads(q), self._heads(k), self._heads(v), self.scale, bias)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, channels))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse the reduction conv + BN and merge the k/v (or q/k/v) Linears, in place."""
        if self.deploy:
            return
        if self.sr_ratio > 1:
            self.sr.switch_to_deploy()
            linears, name = [self.k, self.v], 'kv'
        else:
            linears, name = [self.q, self.k, self.v], 'qkv'
        weight = torch.cat([m.weight for m in linears])
        bias = torch.cat([m.bias for m in linears])
        merged = nn.Linear(self.dim, weight.shape[0], device=weight.device, dtype=weight.dtype)
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
        setattr(self, name, merged)
        for old in ('k', 'v') if self.sr_ratio > 1 else ('q', 'k', 'v'):
            delattr(self, old)
        self.deploy = True


class IRFFN(nn.Module):
    """Inverted residual feed-forward network of CMT, with the block's residual.

    ``residual + DropPath(project(dw_bn(GELU(dw(expand(x)) + expand(x)))))``: ``expand`` is a
    1x1 conv -> GELU -> BN, ``dw`` a depthwise 3x3 conv with identity, ``project`` a 1x1 conv ->
    BN. The deploy form fuses the GELUs into the convolutions, folds ``dw_bn`` and the projection
    BN into one biased 1x1 conv that also adds the residual, and the identity into the depthwise
    kernel; the expansion BN stays (it feeds a zero-padded conv).

    Args:
        dim (int): Input and output channels.
        hidden_dim (int): Expanded channels.
        drop_path (float): Drop-path probability of the branch. Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, dim: int, hidden_dim: int, drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.expand = ConvGELUBN(dim, hidden_dim, 1, deploy=deploy)
        self.dw = ResidualDWConv(hidden_dim, act_layer=nn.GELU, deploy=deploy)
        if not deploy:
            self.dw_bn = nn.BatchNorm2d(hidden_dim)
        self.project = ConvBN(hidden_dim, dim, 1, bias=True, drop_path=drop_path, deploy=deploy)

    def forward(self, x: torch.Tensor, grid: Grid, residual: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, N, C)`` on ``grid`` and the residual tokens -> tokens ``(B, N, C)``."""
        x = self.dw(self.expand(token_map(x, grid)))
        if not self.deploy:
            x = self.dw_bn(x)
        return map_tokens(self.project(x, residual=token_map(residual, grid)))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse the GELUs, fold the identity and ``dw_bn -> project`` (conv + BN), in place."""
        if self.deploy:
            return
        self.expand.switch_to_deploy()
        self.dw.switch_to_deploy()
        weight, bias = fold_bn_into_next(self.dw_bn, *self.project.fused_weight_bias())
        self.project = ConvBN(weight.shape[1], weight.shape[0], 1, deploy=True).to(weight)
        self.project.conv.weight.copy_(weight)
        self.project.conv.bias.copy_(bias)
        del self.dw_bn
        self.deploy = True


class CMTBlock(nn.Module):
    """CMT block: ``x = LPU(x); x = x + LMHSA(LN(x)); x = x + IRFFN(LN(x))``.

    The LPU is a depthwise 3x3 conv with identity and no norm; both LayerNorms use eps 1e-6.

    Args:
        dim (int): Channels.
        num_heads (int): Attention heads.
        sr_ratio (int): K/V reduction factor.
        mlp_ratio (float): IRFFN expansion; hidden channels ``int(dim * mlp_ratio)``.
        drop_path (float): Drop-path probability of both residuals. Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: float,
                 drop_path: float = 0., deploy: bool = False) -> None:
        super().__init__()
        self.lpu = ResidualDWConv(dim, deploy=deploy)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CMTAttention(dim, num_heads, sr_ratio, deploy=deploy)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = IRFFN(dim, int(dim * mlp_ratio), drop_path=drop_path, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, grid: Grid, bias: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, N, C)`` on ``grid``, stage bias ``(h, N, N_kv)`` -> tokens."""
        x = map_tokens(self.lpu(token_map(x, grid)))
        x = x + self.drop_path(self.attn(self.norm1(x), grid, bias))
        return self.ffn(self.norm2(x), grid, residual=x)


class CMTStage(nn.Module):
    """Patch embedding, the stage's shared relative position bias, and its CMT blocks.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Channels of the stage.
        depth (int): Number of blocks.
        num_heads (int): Attention heads.
        sr_ratio (int): K/V reduction factor.
        mlp_ratio (float): IRFFN expansion.
        query_grid (tuple[int, int]): Token grid at the build-time input size; the bias has
            shape ``(num_heads, prod(query_grid), prod(ceil(query_grid / sr_ratio)))``.
        drop_path_rates (Sequence[float]): Per-block drop-path rates.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, in_channels: int, embed_dims: int, depth: int, num_heads: int,
                 sr_ratio: int, mlp_ratio: float, query_grid: Grid,
                 drop_path_rates: Sequence[float], deploy: bool = False) -> None:
        super().__init__()
        self.sr_ratio = sr_ratio
        self.query_grid = tuple(query_grid)
        self.key_grid = ceil_grid(self.query_grid, sr_ratio)
        self.patch_embed = CMTPatchEmbed(in_channels, embed_dims)
        self.relative_pos = nn.Parameter(
            torch.randn(num_heads, math.prod(self.query_grid), math.prod(self.key_grid)))
        self.blocks = nn.ModuleList([
            CMTBlock(embed_dims, num_heads, sr_ratio, mlp_ratio, drop_path=rate, deploy=deploy)
            for rate in drop_path_rates
        ])
        if len(self.blocks) != depth:
            raise ValueError(f'got {len(drop_path_rates)} drop-path rates for {depth} blocks')
        self._resized_bias = InferenceMemo()

    def position_bias(self, query_grid: Grid) -> torch.Tensor:
        """The bias for a token grid: the parameter itself at the build grid, else resized
        (at inference once per grid and parameter state: :class:`InferenceMemo`)."""
        query_grid = tuple(query_grid)
        if query_grid == self.query_grid:
            return self.relative_pos
        resize = functools.partial(resize_relative_position_bias, self.relative_pos,
                                   self.query_grid, self.key_grid, query_grid,
                                   ceil_grid(query_grid, self.sr_ratio))
        return self._resized_bias(self.relative_pos, query_grid, resize)

    def forward(self, x: torch.Tensor,
                run_block: Optional[Callable[[Callable, torch.Tensor], torch.Tensor]] = None
                ) -> torch.Tensor:
        """Map ``(B, C_in, H, W)`` -> map ``(B, C, ceil(H / 2), ceil(W / 2))``.

        Args:
            x (Tensor): The input map.
            run_block (callable, optional): ``run_block(block, tokens)`` runs one block on the
                tokens (the backbone's :meth:`~MobileBackbone._run_block`, which checkpoints);
                None calls the blocks directly. Defaults to None.
        """
        x, grid = self.patch_embed(x)
        bias = self.position_bias(grid)
        for block in self.blocks:
            step = functools.partial(block, grid=grid, bias=bias)
            x = step(x) if run_block is None else run_block(step, x)
        return token_map(x, grid)


@MODELS.register_module()
class CMT(MobileBackbone):
    """CMT backbone (Guo et al., CVPR 2022).

    A stem of three 3x3 conv -> GELU -> BN units (the first with stride 2), then four
    :class:`CMTStage` s, each a 2x2 stride-2 patch embedding followed by CMT blocks (LPU, LMHSA
    with K/V reduction and a relative position bias shared by the stage, IRFFN). Stage outputs
    are maps at strides 4, 8, 16 and 32 for any input size (``ceil`` arithmetic).

    The classifier's 1x1 conv (1280) + BN + Swish, pooling, dropout and Linear are in
    :class:`~mmmobile.models.heads.CMTClsHead`. Parameter counts with that head at the native
    resolution equal the official code's:

    ======  ======  =====================  ===============  ============  ===========
    arch    native  embed_dims             depths           backbone      + head
    ======  ======  =====================  ===============  ============  ===========
    ti      160     46, 92, 184, 368       2, 2, 10, 2      7,736,546     9,492,426
    xs      192     52, 104, 208, 416      3, 3, 12, 3      13,429,888    15,247,208
    s       224     64, 128, 256, 512      3, 3, 16, 3      24,315,960    26,256,160
    b       256     76, 152, 304, 608      4, 4, 20, 4      43,651,996    45,715,076
    ======  ======  =====================  ===============  ============  ===========

    CMT-S has 26.26M parameters in the official code although the paper prints 25.1M; this
    class follows the code (the released checkpoint needs that layout). The count depends on
    ``img_size`` through the relative position biases.

    Args:
        arch (str | dict): A key of ``arch_settings`` or a dict with ``embed_dims``, ``depths``,
            ``num_heads`` and ``stem_channels`` (ints per stage / int) and optionally
            ``mlp_ratios`` (float or 4 floats, default 4), ``sr_ratios`` (default
            ``[8, 4, 2, 1]``) and ``img_size`` (default 224). Defaults to 's'.
        img_size (int | tuple[int, int], optional): Build-time input size, which sets the shape
            of the stored relative position biases (and hence the parameter count). Inputs of
            any other size are supported by resizing the biases on the fly. None (default) uses
            the variant's native resolution; a checkpoint must be loaded into a model built at
            its training resolution.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose output map is returned (negative
            indices count from the end). Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): Stages to freeze (parameters fixed, BN in eval). ``-1`` freezes
            nothing, ``0`` the stem, ``i`` the stem and stages ``0..i-1`` (with their patch
            embeddings and biases). Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training. Defaults to False.
        with_cp (bool): Use gradient checkpointing per block. Defaults to False.
        drop_path_rate (float): Stochastic depth rate, linearly increasing over all blocks (as
            the official code). Defaults to 0.
        deploy (bool): Build the fused (re-parameterized) form directly, to load fused
            checkpoints. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config. By default the official
            init is applied at construction (Linear trunc-normal std 0.02, conv Kaiming-normal
            fan-out, zero biases, norms 1/0, biases ``randn``).

    Example:
        >>> import torch
        >>> from mmmobile.models import CMT
        >>> model = CMT('ti').eval()
        >>> for out in model(torch.rand(1, 3, 97, 131)):
        ...     print(tuple(out.shape))
        (1, 46, 25, 33)
        (1, 92, 13, 17)
        (1, 184, 7, 9)
        (1, 368, 4, 5)
    """

    preferred_memory_format = 'channels_last'  # inference layout, see mmmobile.layout

    arch_required_keys = ('embed_dims', 'depths', 'num_heads', 'stem_channels')
    arch_settings: Dict[str, Dict] = {
        'ti': dict(embed_dims=[46, 92, 184, 368], depths=[2, 2, 10, 2], num_heads=[1, 2, 4, 8],
                   stem_channels=16, mlp_ratios=[3.6] * 4, sr_ratios=[8, 4, 2, 1], img_size=160),
        'xs': dict(embed_dims=[52, 104, 208, 416], depths=[3, 3, 12, 3], num_heads=[1, 2, 4, 8],
                   stem_channels=16, mlp_ratios=[3.77] * 4, sr_ratios=[8, 4, 2, 1],
                   img_size=192),
        's': dict(embed_dims=[64, 128, 256, 512], depths=[3, 3, 16, 3], num_heads=[1, 2, 4, 8],
                  stem_channels=32, mlp_ratios=[4.] * 4, sr_ratios=[8, 4, 2, 1], img_size=224),
        'b': dict(embed_dims=[76, 152, 304, 608], depths=[4, 4, 20, 4], num_heads=[1, 2, 4, 8],
                  stem_channels=38, mlp_ratios=[4.] * 4, sr_ratios=[8, 4, 2, 1], img_size=256),
    }

    def __init__(self,
                 arch: Union[str, Dict] = 's',
                 img_size: Optional[Union[int, Sequence[int]]] = None,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 deploy: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        embed_dims = self.arch['embed_dims']
        num_stages = len(embed_dims)
        self.img_size = tuple(to_2tuple(self.arch['img_size'] if img_size is None else img_size))
        if len(self.img_size) != 2:
            raise ValueError(f'img_size must be an int or a pair of ints, got {self.img_size}')

        out_indices = self._normalize_out_indices(out_indices, num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy
        self.out_channels = list(embed_dims)

        stem = self.arch['stem_channels']
        self.stem = nn.Sequential(
            ConvGELUBN(in_channels, stem, 3, stride=2), ConvGELUBN(stem, stem, 3),
            ConvGELUBN(stem, stem, 3))

        drop_rates = torch.linspace(
            0, drop_path_rate, sum(self.arch['depths']), device='cpu').tolist()
        grid = ceil_grid(self.img_size, 2)
        self.stages = nn.ModuleList()
        channels = stem
        for i in range(num_stages):
            grid = ceil_grid(grid, 2)
            depth = self.arch['depths'][i]
            start = sum(self.arch['depths'][:i])
            self.stages.append(
                CMTStage(channels, embed_dims[i], depth, self.arch['num_heads'][i],
                         self.arch['sr_ratios'][i], self.arch['mlp_ratios'][i], grid,
                         drop_rates[start:start + depth], deploy=deploy))
            channels = embed_dims[i]
        self.apply(hybrid_init)

    def _complete_arch(self, arch: Dict) -> Dict:
        """Default ``mlp_ratios`` (4, a float or one per stage), ``sr_ratios`` and ``img_size``;
        check that every per-stage list has one entry per stage."""
        num_stages = len(arch['embed_dims'])
        mlp_ratios = arch.get('mlp_ratios', 4.)
        if isinstance(mlp_ratios, (int, float)):
            mlp_ratios = [float(mlp_ratios)] * num_stages
        arch['mlp_ratios'] = list(mlp_ratios)
        arch.setdefault('sr_ratios', [8, 4, 2, 1])
        arch.setdefault('img_size', 224)
        for key in ('depths', 'num_heads', 'mlp_ratios', 'sr_ratios'):
            if len(arch[key]) != num_stages:
                raise ValueError(f'arch {key} must have {num_stages} entries, got {arch[key]}')
        return arch

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for index, stage in enumerate(self.stages):
            x = stage(x, self._run_block)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)
