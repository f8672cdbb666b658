# Copyright (c) mmmobile contributors. All rights reserved.
"""RepViT: Revisiting Mobile CNN From ViT Perspective.

Paper: Ao Wang, Hui Chen, Zijia Lin, Jungong Han, Guiguang Ding, CVPR 2024,
https://arxiv.org/abs/2307.09283. Re-implemented from the description of the official code
(https://github.com/THU-MIG/RepViT, ``model/repvit.py``); parameter counts and outputs match it.

Where the official code and the paper differ, this file follows the code:

- The "HS" flag of the official config rows selects GELU in both branches, so every activation is
  GELU (the paper's tables mention Hardswish).
- No drop path is used by the official models; ``drop_path_rate`` (default 0) is an addition that
  only wraps the residual FFN.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from mmmobile.registry import MODELS
from ..layers import (ConvBN, ConvBNFFN, FusedConvAct, SqueezeExcite, conv_like,
                      fold_bn_into_conv, identity_kernel, pad_kernel_to)
from .base import MobileBackbone


class RepVGGDW(nn.Module):
    """RepViT's token mixer: 3x3 depthwise ConvBN + 1x1 depthwise conv + identity.

    Two generations of the official code exist and both load here:

    - current (official since Sept. 2023): ``bn(conv(x) + conv1(x) + x)`` where ``conv1`` is a
      plain 1x1 depthwise conv *with bias* and ``bn`` is applied after the three-way sum;
    - legacy (first release, timm ``legacy=True``): ``conv(x) + conv1(x) + x`` where ``conv1`` is
      a 1x1 depthwise ConvBN and there is no BN after the sum.

    Both fuse into one 3x3 depthwise conv with bias (``fused``, a
    :class:`~mmmobile.models.layers.fused.FusedConvAct`).

    Args:
        channels (int): Channels.
        legacy (bool): Build the legacy form. Defaults to False.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, legacy: bool = False, deploy: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.legacy = legacy
        self.deploy = deploy
        if deploy:
            self.fused = FusedConvAct(nn.Conv2d(channels, channels, 3, 1, 1, groups=channels))
            return
        self.conv = ConvBN(channels, channels, 3, groups=channels)
        if legacy:
            self.conv1 = ConvBN(channels, channels, 1, groups=channels)
        else:
            self.conv1 = nn.Conv2d(channels, channels, 1, groups=channels, bias=True)
            self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.fused(x)
        out = self.conv(x) + self.conv1(x) + x
        return out if self.legacy else self.bn(out)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse the three branches (and the post-sum BN) into ``fused``, in place."""
        if self.deploy:
            return
        weight, bias = self.conv.fused_weight_bias()
        if self.legacy:
            weight1, bias1 = self.conv1.fused_weight_bias()
        else:
            weight1, bias1 = self.conv1.weight, self.conv1.bias
        weight = weight + pad_kernel_to(weight1, 3) + identity_kernel(
            self.channels, 3, self.channels, like=weight)
        bias = bias + bias1
        if not self.legacy:
            weight, bias = fold_bn_into_conv(weight, bias, self.bn)
        self.fused = FusedConvAct(conv_like(self.conv.conv, weight, bias))
        for name in ('conv', 'conv1', 'bn'):
            if hasattr(self, name):
                delattr(self, name)
        self.deploy = True


class RepViTBlock(nn.Module):
    """Stride-1 RepViT block: ``x = SE(RepVGGDW(x)); x = x + FFN(x)``.

    The only skip connection around the token mixer is the identity branch inside
    :class:`RepVGGDW`, as in the official code.

    Args:
        channels (int): Channels.
        use_se (bool): Whether to apply Squeeze-and-Excitation after the token mixer.
        ffn_ratio (float): FFN expansion. Defaults to 2.
        drop_path (float): Drop-path probability of the FFN residual. Defaults to 0.
        legacy (bool): Use the legacy RepVGGDW form. Defaults to False.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, use_se: bool, ffn_ratio: float = 2., drop_path: float = 0.,
                 legacy: bool = False, deploy: bool = False) -> None:
        super().__init__()
        self.token_mixer = RepVGGDW(channels, legacy=legacy, deploy=deploy)
        self.se = SqueezeExcite(channels) if use_se else nn.Identity()
        self.ffn = ConvBNFFN(channels, int(channels * ffn_ratio), drop_path=drop_path,
                             deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.se(self.token_mixer(x)))  # the FFN adds its own residual


class RepViTDownsample(nn.Module):
    """Stride-2 RepViT block (the paper's deeper downsampling layer without its pre-block).

    ``x = PW(SE(DW_s2(x))); x = x + FFN(x)``: a 3x3 stride-2 depthwise ConvBN, optional SE (never
    used by the released models), a 1x1 ConvBN to the new width, then a residual FFN. No
    activation between the depthwise and the pointwise conv, as in the official code.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        use_se (bool): Whether to apply SE after the depthwise conv. Defaults to False.
        ffn_ratio (float): FFN expansion. Defaults to 2.
        drop_path (float): Drop-path probability of the FFN residual. Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, in_channels: int, out_channels: int, use_se: bool = False,
                 ffn_ratio: float = 2., drop_path: float = 0., deploy: bool = False) -> None:
        super().__init__()
        self.dw_conv = ConvBN(in_channels, in_channels, 3, stride=2, groups=in_channels,
                              deploy=deploy)
        self.se = SqueezeExcite(in_channels) if use_se else nn.Identity()
        self.pw_conv = ConvBN(in_channels, out_channels, 1, deploy=deploy)
        self.ffn = ConvBNFFN(out_channels, int(out_channels * ffn_ratio), drop_path=drop_path,
                             deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.pw_conv(self.se(self.dw_conv(x))))  # the FFN adds its residual


def alternating_se_pattern(num_blocks: Sequence[int]) -> List[List[bool]]:
    """SE placement of the released RepViT models.

    Within each stage the stride-1 blocks alternate SE on/off starting with on, except that the
    last stride-1 block before a downsampling block never has SE (it belongs to the paper's deeper
    downsampling layer). The final stage alternates plainly.

    Args:
        num_blocks (Sequence[int]): Stride-1 blocks per stage.

    Returns:
        list[list[bool]]: Per stage, whether each stride-1 block uses SE.
    """
    pattern = []
    for stage, count in enumerate(num_blocks):
        flags = [i % 2 == 0 for i in range(count)]
        if stage < len(num_blocks) - 1 and count > 0:
            flags[-1] = False
        pattern.append(flags)
    return pattern


@MODELS.register_module()
class RepViT(MobileBackbone):
    """RepViT backbone (Wang et al., CVPR 2024).

    A stem of two stride-2 3x3 ConvBN layers (GELU between), then four stages. Stage 0 holds
    stride-1 :class:`RepViTBlock` s; every later stage starts with a :class:`RepViTDownsample`.
    Outputs have strides 4, 8, 16 and 32 and work for any input size.

    Variants (``arch``), with stride-1 blocks per stage as in the official config tables:

    ======  ====================  ==============  ==================================
    arch    channels              blocks          fused classifier params (1 head)
    ======  ====================  ==============  ==================================
    m0_6    40, 80, 160, 320      2, 2, 9, 1      2,468,072
    m0_9    48, 96, 192, 384      3, 3, 15, 2     5,067,056
    m1_0    56, 112, 224, 448     3, 3, 15, 2     6,810,312
    m1_1    64, 128, 256, 512     3, 3, 13, 2     8,244,312
    m1_5    64, 128, 256, 512     5, 5, 25, 4     14,049,992
    m2_3    80, 160, 320, 640     7, 7, 35, 2     22,926,792
    ======  ====================  ==============  ==================================

    Args:
        arch (str | dict): A key of ``arch_settings`` or a dict with ``channels`` (4 ints),
            ``num_blocks`` (stride-1 blocks per stage, 4 ints; stages 1-3 need at least one)
            and optionally ``se_pattern`` (per stage a list of bools, one per stride-1 block).
            Defaults to 'm1_1'.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose output is returned. Defaults to
            ``(0, 1, 2, 3)``.
        out_taps (str): Where stages 0-2 are tapped. ``'stage_end'`` (default) returns the last
            block at each resolution (the official segmentation taps, e.g. features
            3/7/21/24 for M1.1). ``'before_downsample'`` returns the output before the last
            stride-1 block, which the paper counts as part of the next deeper downsampling layer
            (the official detection taps, e.g. features 2/6/20/24 for M1.1). Stage 3 is always
            tapped at its end.
        frozen_stages (int): Stages to freeze (parameters fixed, BN in eval). ``-1`` freezes
            nothing, ``0`` the stem, ``i`` the stem and stages ``0..i-1``. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training (frozen statistics,
            as the official detection/segmentation backbones). Defaults to False.
        with_cp (bool): Use gradient checkpointing per block. Defaults to False.
        drop_path_rate (float): Stochastic depth rate, linearly increasing over blocks and only
            applied to the FFN residuals. The official models use 0. Defaults to 0.
        legacy_repvggdw (bool): Use the first-release RepVGGDW form (1x1 ConvBN, no post-sum BN)
            to load legacy checkpoints. Defaults to False.
        deploy (bool): Build the fused (re-parameterized) form directly, to load fused
            checkpoints. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config. By default PyTorch's
            default conv init and the official BN init (gamma 1, last FFN BN gamma 0) are kept.

    Example:
        >>> import torch
        >>> from mmmobile.models import RepViT
        >>> model = RepViT('m0_9').eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 48, 56, 56)
        (1, 96, 28, 28)
        (1, 192, 14, 14)
        (1, 384, 7, 7)
    """

    arch_settings: Dict[str, Dict] = {
        'm0_6': dict(channels=[40, 80, 160, 320], num_blocks=[2, 2, 9, 1]),
        'm0_9': dict(channels=[48, 96, 192, 384], num_blocks=[3, 3, 15, 2]),
        'm1_0': dict(channels=[56, 112, 224, 448], num_blocks=[3, 3, 15, 2]),
        'm1_1': dict(channels=[64, 128, 256, 512], num_blocks=[3, 3, 13, 2]),
        'm1_5': dict(channels=[64, 128, 256, 512], num_blocks=[5, 5, 25, 4]),
        'm2_3': dict(channels=[80, 160, 320, 640], num_blocks=[7, 7, 35, 2]),
    }
    out_tap_options = ('stage_end', 'before_downsample')
    arch_required_keys = ('channels', 'num_blocks')
    #: Depthwise convolutions run through oneDNN's direct kernels on the CPU in channels_last.
    preferred_memory_format = 'channels_last'

    def __init__(self,
                 arch: Union[str, Dict] = 'm1_1',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 out_taps: str = 'stage_end',
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 legacy_repvggdw: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        channels = self.arch['channels']
        num_blocks = self.arch['num_blocks']
        se_pattern = self.arch['se_pattern']
        num_stages = len(channels)

        self._set_common_args(num_stages, out_indices, frozen_stages, norm_eval, with_cp, deploy)
        if out_taps not in self.out_tap_options:
            raise ValueError(f'out_taps must be one of {self.out_tap_options}, got {out_taps!r}')
        self.out_taps = out_taps
        self.legacy_repvggdw = legacy_repvggdw
        self.out_channels = list(channels)

        # Named 0 and 2 as the conv, GELU, conv stem of the official code (checkpoint keys).
        self.stem = nn.Sequential(OrderedDict([
            ('0', ConvBN(in_channels, channels[0] // 2, 3, stride=2, act_layer=nn.GELU,
                         deploy=deploy)),
            ('2', ConvBN(channels[0] // 2, channels[0], 3, stride=2, deploy=deploy))]))

        total_blocks = sum(num_blocks) + num_stages - 1
        drop_rates = torch.linspace(0, drop_path_rate, total_blocks).tolist()
        block_index = 0
        self.stages = nn.ModuleList()
        for stage in range(num_stages):
            blocks = []
            if stage > 0:
                blocks.append(
                    RepViTDownsample(channels[stage - 1], channels[stage],
                                     drop_path=drop_rates[block_index], deploy=deploy))
                block_index += 1
            for use_se in se_pattern[stage]:
                blocks.append(
                    RepViTBlock(channels[stage], use_se, drop_path=drop_rates[block_index],
                                legacy=legacy_repvggdw, deploy=deploy))
                block_index += 1
            self.stages.append(nn.Sequential(*blocks))

    def _complete_arch(self, arch: Dict) -> Dict:
        if len(arch['channels']) != len(arch['num_blocks']):
            raise ValueError('arch channels and num_blocks must have the same length')
        if any(n < 1 for n in arch['num_blocks'][:-1]):
            raise ValueError('every stage but the last needs at least one stride-1 block')
        arch.setdefault('se_pattern', alternating_se_pattern(arch['num_blocks']))
        if [len(p) for p in arch['se_pattern']] != list(arch['num_blocks']):
            raise ValueError('se_pattern must have one flag per stride-1 block of each stage')
        return arch

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        last_stage = len(self.stages) - 1
        for stage_index, stage in enumerate(self.stages):
            tap_early = self.out_taps == 'before_downsample' and stage_index < last_stage
            for block_index, block in enumerate(stage):
                if tap_early and block_index == len(stage) - 1 and stage_index in self.out_indices:
                    outs.append(x)
                x = self._run_block(block, x)
            if not tap_early and stage_index in self.out_indices:
                outs.append(x)
        return tuple(outs)
