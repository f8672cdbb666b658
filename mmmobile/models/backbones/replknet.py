# Copyright (c) mmmobile contributors. All rights reserved.
"""RepLKNet: Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design in CNNs.

Paper: Xiaohan Ding, Xiangyu Zhang, Jungong Han, Guiguang Ding, CVPR 2022,
https://arxiv.org/abs/2203.06717. Re-implemented from the description of the official code
(https://github.com/DingXiaoH/RepLKNet-pytorch, ``replknet.py``); module names, parameter counts
and outputs match it, so official checkpoints load after a key-prefix conversion.

Where this file follows the code or departs from it:

- Plain BatchNorm (the official constructor defaults to SyncBatchNorm through a global switch).
- The official classifier's final ``norm`` (BN before pooling) is the last stage's output norm
  here (``final_norm=True``; mmpretrain's layout, key ``stages.3.norm``), so mmpretrain's
  ``GlobalAveragePooling`` + ``LinearClsHead`` complete the classifier with the official
  parameter count.
- The large-kernel merge is correct for any padding (the official CUDA fast path stores padding 0
  and rebuilds the merged conv with it, DingXiaoH/RepLKNet-pytorch#48).
- ``switch_to_deploy`` folds every Conv+BN pair (the official ``structural_reparam`` merges only
  the kernels) and also folds the pre-norm BNs into the 1x1 convs that follow them.
- Speed on the CPU, instead of the official CUDA kernel: each stage runs in the memory layout
  in which its large depthwise kernels are fastest (:mod:`mmmobile.models.layers.large_kernel`),
  and the fused model runs its convolutions through oneDNN with packed weights and the
  activations / residual adds fused in (:mod:`mmmobile.models.layers.onednn`). Outputs are
  returned contiguous.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from torch.nn.modules.batchnorm import _BatchNorm

from mmmobile.registry import MODELS
from ..layers import ConvBN, reparameterize_children
from .base import MobileBackbone
from ..layers.large_kernel import ReparamLargeKernelConv, prefers_channels_last
from ..layers.onednn import conv2d_act, onednn_fusion_usable
from ..layers.reparam import bn_scale_shift


class ConvBNReLU(ConvBN):
    """:class:`ConvBN` followed by an in-place ReLU (the official ``conv_bn_relu``).

    Keys ``conv.*`` and ``bn.*`` as officially; the deploy form keeps only a biased ``conv``.
    """

    cpu_fast_path = True  # set per instance by RepLKNet.set_cpu_fast_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cpu_fast_path and self.deploy and not self.training and onednn_fusion_usable(x):
            return conv2d_act(x, self.conv, 'relu')
        return F.relu(super().forward(x), inplace=True)


def _fold_pre_norm(norm: _BatchNorm, pw: ConvBN) -> None:
    """Fold an eval-mode BatchNorm that precedes the 1x1 conv of a fused ``pw`` into that conv.

    ``W (x * s + t) + b = (W * s) x + (W t + b)``: exact for a 1x1 convolution without padding.
    """
    conv = pw.conv
    scale, shift = bn_scale_shift(norm)
    weight = conv.weight.flatten(1)
    conv.bias.copy_(conv.bias + weight @ shift)
    conv.weight.copy_(conv.weight * scale.reshape(1, -1, 1, 1))


class RepLKBlock(nn.Module):
    """``x + DropPath(pw2(ReLU(LK(pw1(BN(x))))))``, the RepLKNet large-kernel block.

    ``pw1`` is a 1x1 ConvBN + ReLU to ``dw_channels``, ``LK`` a :class:`ReparamLargeKernelConv`
    (large depthwise kernel, optional parallel small kernel), ``pw2`` a 1x1 ConvBN back to
    ``channels``. In the deploy form the pre-norm ``prelkb_bn`` is folded into ``pw1``.

    Args:
        channels (int): Input and output channels.
        dw_channels (int): Channels of the depthwise large-kernel convolution.
        kernel_size (int): Large kernel size.
        small_kernel (int, optional): Small re-parameterization kernel, or None.
        drop_path (float): Drop-path probability of the residual branch. Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, dw_channels: int, kernel_size: int,
                 small_kernel: Optional[int], drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.cpu_fast_path = True
        if not deploy:
            self.prelkb_bn = nn.BatchNorm2d(channels)
        self.pw1 = ConvBNReLU(channels, dw_channels, 1, padding=0, deploy=deploy)
        self.large_kernel = ReparamLargeKernelConv(dw_channels, kernel_size, small_kernel,
                                                   deploy=deploy)
        self.lk_nonlinear = nn.ReLU(inplace=True)
        self.pw2 = ConvBN(dw_channels, channels, 1, padding=0, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cpu_fast_path and self.deploy and not self.training and onednn_fusion_usable(x):
            out = conv2d_act(x, self.pw1.conv, 'relu')
            out = conv2d_act(out, self.large_kernel.lkb_reparam, 'relu')
            return conv2d_act(out, self.pw2.conv, residual=x)
        out = x if self.deploy else self.prelkb_bn(x)
        out = self.pw2(self.lk_nonlinear(self.large_kernel(self.pw1(out))))
        return x + self.drop_path(out)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Merge the kernels, fold every BN (the pre-norm into ``pw1``); in place, idempotent."""
        if self.deploy:
            return
        reparameterize_children(self)
        _fold_pre_norm(self.prelkb_bn, self.pw1)
        del self.prelkb_bn
        self.deploy = True


class ConvFFN(nn.Module):
    """``x + DropPath(pw2(GELU(pw1(BN(x)))))``, the RepLKNet feed-forward block.

    In the deploy form the pre-norm ``preffn_bn`` is folded into ``pw1``.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Hidden channels (``channels * ffn_ratio``).
        drop_path (float): Drop-path probability of the residual branch. Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    def __init__(self, channels: int, hidden_channels: int, drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.cpu_fast_path = True
        if not deploy:
            self.preffn_bn = nn.BatchNorm2d(channels)
        self.pw1 = ConvBN(channels, hidden_channels, 1, padding=0, deploy=deploy)
        self.nonlinear = nn.GELU()
        self.pw2 = ConvBN(hidden_channels, channels, 1, padding=0, deploy=deploy)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cpu_fast_path and self.deploy and not self.training and onednn_fusion_usable(x):
            return conv2d_act(conv2d_act(x, self.pw1.conv, 'gelu'), self.pw2.conv, residual=x)
        out = x if self.deploy else self.preffn_bn(x)
        out = self.pw2(self.nonlinear(self.pw1(out)))
        return x + self.drop_path(out)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold every BN (the pre-norm into ``pw1``); in place, idempotent."""
        if self.deploy:
            return
        reparameterize_children(self)
        _fold_pre_norm(self.preffn_bn, self.pw1)
        del self.preffn_bn
        self.deploy = True


class RepLKNetStage(nn.Module):
    """``blocks`` (alternating :class:`RepLKBlock` and :class:`ConvFFN`) and the output ``norm``.

    ``norm`` is a BatchNorm on the stage output that is *returned* (the tensor passed on to the
    next stage is not normalized), or Identity.

    Args:
        channels (int): Stage channels.
        num_blocks (int): Number of (RepLKBlock, ConvFFN) pairs.
        kernel_size (int): Large kernel size.
        small_kernel (int, optional): Small re-parameterization kernel, or None.
        dw_ratio (float): Depthwise channels relative to ``channels``.
        ffn_ratio (float): FFN hidden channels relative to ``channels``.
        drop_path (Sequence[float]): Drop-path rate of each pair.
        with_norm (bool): Whether the returned output goes through a BatchNorm.
        with_cp (bool): Gradient checkpointing per block.
        deploy (bool): Build the fused form directly.
    """

    def __init__(self, channels: int, num_blocks: int, kernel_size: int,
                 small_kernel: Optional[int], dw_ratio: float, ffn_ratio: float,
                 drop_path: Sequence[float], with_norm: bool, with_cp: bool,
                 deploy: bool) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.with_cp = with_cp
        blocks = []
        for i in range(num_blocks):
            blocks.append(RepLKBlock(channels, int(channels * dw_ratio), kernel_size,
                                     small_kernel, drop_path[i], deploy=deploy))
            blocks.append(ConvFFN(channels, int(channels * ffn_ratio), drop_path[i],
                                  deploy=deploy))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.BatchNorm2d(channels) if with_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


@MODELS.register_module()
class RepLKNet(MobileBackbone):
    """RepLKNet backbone (Ding et al., CVPR 2022).

    Stem (3x3 s2 conv, 3x3 depthwise, 1x1, 3x3 s2 depthwise; all ConvBN + ReLU), then four stages
    of alternating large-kernel blocks and FFNs, joined by transitions (1x1 ConvBN + ReLU, 3x3
    stride-2 depthwise ConvBN + ReLU). Outputs have strides 4, 8, 16 and 32.

    Variants (``arch``), with the official parameter counts including the 1000-class head
    (``final_norm=True`` + ``LinearClsHead``):

    =====  ==============  ==========================  =====  ========  ============  ===========
    arch   kernels         channels                    small  dw_ratio  train params  LK merged
    =====  ==============  ==========================  =====  ========  ============  ===========
    31B    31, 29, 27, 13  128, 256, 512, 1024         5      1         79,864,168    79,527,272
    31L    31, 29, 27, 13  192, 384, 768, 1536         5      1         172,671,016   172,165,672
    XL     27, 27, 27, 13  256, 512, 1024, 2048        None   1.5       335,435,752   335,399,656
    =====  ==============  ==========================  =====  ========  ============  ===========

    All use (2, 2, 18, 2) block pairs and ``ffn_ratio`` 4. "LK merged" is the official
    ``structural_reparam`` form (only the kernels merged); :meth:`switch_to_deploy` also folds
    every other BN, which gives fewer parameters still.

    Speed on the CPU, with no configuration (``cpu_fast_path=False`` runs stock PyTorch ops):

    - each stage (with the transition or stem before it) runs in the memory layout in which its
      depthwise kernel size at the current feature size was measured fastest
      (:func:`~mmmobile.models.layers.large_kernel.prefers_channels_last`), e.g. channels_last
      for 31x31 on 56x56 (about 20x faster than NCHW for that convolution) and NCHW for 13x13 on
      7x7;
    - the fused (deploy) model, in inference without autograd, runs each convolution through
      oneDNN with a cached packed weight and its ReLU / GELU / residual add fused in
      (:func:`~mmmobile.models.layers.onednn.conv2d_act`).

    Args:
        arch (str | dict): A key of ``arch_settings`` or a dict with ``large_kernel_sizes``,
            ``layers`` (block pairs per stage), ``channels`` (4 ints each), ``small_kernel``
            (int or None), ``dw_ratio`` and ``ffn_ratio`` (the official constructor arguments).
            Defaults to '31B'.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose output is returned. Defaults to
            ``(0, 1, 2, 3)``.
        frozen_stages (int): Stages to freeze (parameters fixed, BN in eval). ``-1`` freezes
            nothing, ``0`` the stem, ``i`` the stem, stages ``0..i-1`` and the transitions into
            them. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing per block and stem layer. Defaults to False.
        drop_path_rate (float): Stochastic depth, linear over the block pairs (both blocks of a
            pair share the rate). Defaults to 0.
        final_norm (bool): BatchNorm on the last stage's returned output: the official
            classifier's ``norm`` before pooling. Defaults to False.
        norm_intermediate_features (bool): BatchNorm on every stage's returned output, as the
            official downstream RepLKNet-XL. Defaults to False.
        cpu_fast_path (bool): Use the CPU fast path described above (results are unchanged up
            to float rounding). :meth:`set_cpu_fast_path` changes it later. Defaults to True.
        deploy (bool): Build the fused form directly (load checkpoints written after
            :meth:`switch_to_deploy`). Defaults to False.
        small_kernel_merged (bool, optional): Official alias of ``deploy``. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialization config. By default PyTorch's
            default initialization is kept, as the official code.

    Example:
        >>> import torch
        >>> from mmmobile.models import RepLKNet
        >>> arch = dict(large_kernel_sizes=[31, 29, 27, 13], layers=[1, 1, 1, 1],
        ...             channels=[16, 32, 64, 128], small_kernel=5, dw_ratio=1, ffn_ratio=4)
        >>> model = RepLKNet(arch).eval()
        >>> for out in model(torch.rand(1, 3, 128, 128)):
        ...     print(tuple(out.shape))
        (1, 16, 32, 32)
        (1, 32, 16, 16)
        (1, 64, 8, 8)
        (1, 128, 4, 4)
    """

    #: Measured with ``tools/benchmark.py`` (2 CPU threads, interleaved): the fused 31B
    #: classifier runs about 15% faster from channels_last input and weights (the stages still
    #: pick their own layout, see below).
    preferred_memory_format = 'channels_last'

    arch_settings: Dict[str, Dict] = {
        '31B': dict(large_kernel_sizes=[31, 29, 27, 13], layers=[2, 2, 18, 2],
                    channels=[128, 256, 512, 1024], small_kernel=5, dw_ratio=1, ffn_ratio=4),
        '31L': dict(large_kernel_sizes=[31, 29, 27, 13], layers=[2, 2, 18, 2],
                    channels=[192, 384, 768, 1536], small_kernel=5, dw_ratio=1, ffn_ratio=4),
        'XL': dict(large_kernel_sizes=[27, 27, 27, 13], layers=[2, 2, 18, 2],
                   channels=[256, 512, 1024, 2048], small_kernel=None, dw_ratio=1.5,
                   ffn_ratio=4),
    }
    _arch_keys = ('large_kernel_sizes', 'layers', 'channels', 'small_kernel', 'dw_ratio',
                  'ffn_ratio')

    def __init__(self,
                 arch: Union[str, Dict] = '31B',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 final_norm: bool = False,
                 norm_intermediate_features: bool = False,
                 cpu_fast_path: bool = True,
                 deploy: bool = False,
                 small_kernel_merged: Optional[bool] = None,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if small_kernel_merged is not None:
            deploy = deploy or small_kernel_merged
        self.arch = self._parse_arch(arch)
        channels = self.arch['channels']
        layers = self.arch['layers']
        num_stages = len(channels)

        out_indices = self._normalize_out_indices(out_indices, num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.final_norm = final_norm
        self.deploy = deploy
        self.out_channels = list(channels)

        c0 = channels[0]
        self.stem = nn.ModuleList([
            ConvBNReLU(in_channels, c0, 3, stride=2, padding=1, deploy=deploy),
            ConvBNReLU(c0, c0, 3, stride=1, padding=1, groups=c0, deploy=deploy),
            ConvBNReLU(c0, c0, 1, stride=1, padding=0, deploy=deploy),
            ConvBNReLU(c0, c0, 3, stride=2, padding=1, groups=c0, deploy=deploy),
        ])

        drop_rates = torch.linspace(0, drop_path_rate, sum(layers), device='cpu').tolist()
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for stage in range(num_stages):
            start = sum(layers[:stage])
            with_norm = norm_intermediate_features or (final_norm and stage == num_stages - 1)
            self.stages.append(
                RepLKNetStage(channels[stage], layers[stage],
                              self.arch['large_kernel_sizes'][stage], self.arch['small_kernel'],
                              self.arch['dw_ratio'], self.arch['ffn_ratio'],
                              drop_rates[start:start + layers[stage]], with_norm, with_cp,
                              deploy))
            if stage < num_stages - 1:
                nxt = channels[stage + 1]
                self.transitions.append(nn.Sequential(
                    ConvBNReLU(channels[stage], nxt, 1, padding=0, deploy=deploy),
                    ConvBNReLU(nxt, nxt, 3, stride=2, padding=1, groups=nxt, deploy=deploy)))
        self.set_cpu_fast_path(cpu_fast_path)

    def _parse_arch(self, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f'Unknown RepLKNet arch {arch!r}; choose one of '
                                 f'{sorted(self.arch_settings)} or pass a dict')
            arch = self.arch_settings[arch]
        elif not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        missing = set(self._arch_keys) - set(arch)
        if missing:
            raise ValueError(f'RepLKNet arch dict is missing {sorted(missing)}')
        arch = copy.deepcopy({k: arch[k] for k in self._arch_keys})
        lengths = {len(arch[k]) for k in ('large_kernel_sizes', 'layers', 'channels')}
        if len(lengths) != 1:
            raise ValueError('arch large_kernel_sizes, layers and channels must have the same '
                             'length')
        if any(n < 1 for n in arch['layers']):
            raise ValueError('every stage needs at least one block pair')
        return arch

    def _stage_layout(self, stage: int, height: int, width: int) -> torch.memory_format:
        """Memory layout for ``stage`` whose input map is ``height x width``: the faster one
        for its large depthwise kernel, in inference or (when the stage will be
        differentiated) in a training step."""
        kernel = self.arch['large_kernel_sizes'][stage]
        backward = torch.is_grad_enabled() and any(
            p.requires_grad for p in self.stages[stage].parameters())
        if prefers_channels_last(kernel, height, width, backward):
            return torch.channels_last
        return torch.contiguous_format

    def _to_layout(self, x: torch.Tensor, stage: int, height: int,
                   width: int) -> torch.Tensor:
        if not self.cpu_fast_path or x.device.type != 'cpu':
            return x
        return x.contiguous(memory_format=self._stage_layout(stage, height, width))

    def _run(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(layer, x, use_reentrant=False)
        return layer(x)

    def forward(self, x: torch.Tensor) -> tuple:
        height, width = (x.shape[-2] + 3) // 4, (x.shape[-1] + 3) // 4  # stem output size
        x = self._to_layout(x, 0, height, width)
        x = self.stem[0](x)
        for layer in self.stem[1:]:
            x = self._run(layer, x)
        outs = []
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = self._to_layout(x, index, (x.shape[-2] + 1) // 2, (x.shape[-1] + 1) // 2)
                x = self.transitions[index - 1](x)
            x = stage(x)
            if index in self.out_indices:
                outs.append(stage.norm(x).contiguous())
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        frozen = super()._frozen_modules()
        return frozen + [self.transitions[i] for i in range(max(0, self.frozen_stages - 1))]

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise learning-rate decay.

        The official grouping (``get_num_layer_for_replknet`` in the official
        ``optim_factory.py``), generalized to any number of blocks: the stem is layer 0, stage
        0 (with ``transitions.0``) layer 1, stage 1 (with ``transitions.1``) layer 2, stage 2 in
        groups of four blocks (two block pairs) from layer 3 (``transitions.2`` joins its last
        group), stage 3 the next layer, and everything else (the final norm, the head) the last
        one. For 31B/31L/XL that is 14 layers, 0-13, as officially. Used by mmpretrain's
        ``LearningRateDecayOptimWrapperConstructor`` (``layer_decay_rate``).

        Args:
            param_name (str): Parameter name.
            prefix (str): Prefix of the backbone's parameters (``'backbone.'`` in a
                classifier). Defaults to ''.

        Returns:
            tuple[int, int]: The layer id and the number of layers.
        """
        groups = (2 * self.arch['layers'][2] + 3) // 4
        last = groups + 4  # id of the final norm / head
        if not param_name.startswith(prefix):
            return last, last + 1
        name = param_name[len(prefix):]
        parts = name.split('.')
        if name.startswith('stem.'):
            layer = 0
        elif name.startswith('stages.'):
            stage = int(parts[1])
            if parts[2] == 'norm' and stage == len(self.stages) - 1 and self.final_norm:
                layer = last  # the official classifier's final norm
            elif stage < 2:
                layer = stage + 1
            elif stage == 2:
                layer = 3 + (int(parts[3]) // 4 if parts[2] == 'blocks' else groups - 1)
            else:
                layer = groups + 3
        elif name.startswith('transitions.'):
            transition = int(parts[1])
            layer = transition + 1 if transition < 2 else groups + 2
        else:
            layer = last
        return layer, last + 1

    def merge_large_kernels(self) -> None:
        """Merge only the large and small kernels (the official ``structural_reparam``).

        The other BNs stay; useful to compare with the official merged form. Use
        :meth:`switch_to_deploy` for the fastest model.
        """
        for module in self.modules():
            if isinstance(module, ReparamLargeKernelConv):
                module.switch_to_deploy()

    def set_cpu_fast_path(self, enabled: bool) -> None:
        """Turn the CPU fast path (layouts, oneDNN fusion) on or off for the whole backbone."""
        self.cpu_fast_path = bool(enabled)
        for module in self.modules():
            if module is not self and hasattr(module, 'cpu_fast_path'):
                module.cpu_fast_path = self.cpu_fast_path

    def switch_to_deploy(self) -> None:
        """Fuse every block in place; the result equals the model built with ``deploy=True``."""
        super().switch_to_deploy()
        self.set_cpu_fast_path(self.cpu_fast_path)
