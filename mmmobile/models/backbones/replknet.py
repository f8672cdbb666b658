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
- Speed on the CPU, instead of the official CUDA kernel: the model prefers ``channels_last``
  (large depthwise kernels are fast on the CPU only in that layout), and the fused model is a
  chain of :class:`~mmmobile.models.layers.fused.FusedConvAct` (oneDNN with packed weights and
  the activations / residual adds fused in). Outputs are returned contiguous.
"""
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmmobile.registry import MODELS
from ..layers import ConvBN, fold_bn_into_next, reparameterize_children
from ..layers.large_kernel import ReparamLargeKernelConv
from .base import MobileBackbone

#: The official ``conv_bn_relu``: keys ``conv.*`` and ``bn.*``.
ConvBNReLU = partial(ConvBN, act_layer=nn.ReLU)


class _PreNormBlock(nn.Module):
    """A residual block whose branch starts with a BatchNorm (named ``pre_norm_name``) and an
    unpadded 1x1 ``pw1``; its deploy form folds that BN into ``pw1`` (and keeps Identity)."""

    pre_norm_name = ''

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse every child, then fold the pre-norm into ``pw1``; in place, idempotent."""
        if self.deploy:
            return
        reparameterize_children(self)
        conv = self.pw1.conv
        weight, bias = fold_bn_into_next(getattr(self, self.pre_norm_name), conv.weight,
                                         conv.bias)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        setattr(self, self.pre_norm_name, nn.Identity())
        self.deploy = True


class RepLKBlock(_PreNormBlock):
    """``x + DropPath(pw2(ReLU(LK(pw1(BN(x))))))``, the RepLKNet large-kernel block.

    ``pw1`` is a 1x1 ConvBN + ReLU to ``dw_channels``, ``LK`` a :class:`ReparamLargeKernelConv`
    (large depthwise kernel, optional parallel small kernel) with the ReLU after it (the
    official ``lk_nonlinear``), ``pw2`` a 1x1 ConvBN back to ``channels`` that adds the residual
    (and owns the drop path). In the deploy form the pre-norm ``prelkb_bn`` is folded into
    ``pw1`` and the residual add runs inside ``pw2``'s convolution.

    Args:
        channels (int): Input and output channels.
        dw_channels (int): Channels of the depthwise large-kernel convolution.
        kernel_size (int): Large kernel size.
        small_kernel (int, optional): Small re-parameterization kernel, or None.
        drop_path (float): Drop-path probability of the residual branch (training form only).
            Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    pre_norm_name = 'prelkb_bn'

    def __init__(self, channels: int, dw_channels: int, kernel_size: int,
                 small_kernel: Optional[int], drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.prelkb_bn = nn.Identity() if deploy else nn.BatchNorm2d(channels)
        self.pw1 = ConvBNReLU(channels, dw_channels, 1, padding=0, deploy=deploy)
        self.large_kernel = ReparamLargeKernelConv(dw_channels, kernel_size, small_kernel,
                                                   act_layer=nn.ReLU, deploy=deploy)
        self.pw2 = ConvBN(dw_channels, channels, 1, padding=0, drop_path=drop_path,
                          deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw2(self.large_kernel(self.pw1(self.prelkb_bn(x))), residual=x)


class ConvFFN(_PreNormBlock):
    """``x + DropPath(pw2(GELU(pw1(BN(x)))))``, the RepLKNet feed-forward block.

    ``pw1`` is a 1x1 ConvBN + GELU (the official ``nonlinear``), ``pw2`` adds the residual. In
    the deploy form the pre-norm ``preffn_bn`` is folded into ``pw1`` and the residual add runs
    inside ``pw2``'s convolution.

    Args:
        channels (int): Input and output channels.
        hidden_channels (int): Hidden channels (``channels * ffn_ratio``).
        drop_path (float): Drop-path probability of the residual branch (training form only).
            Defaults to 0.
        deploy (bool): Build the fused form directly. Defaults to False.
    """

    pre_norm_name = 'preffn_bn'

    def __init__(self, channels: int, hidden_channels: int, drop_path: float = 0.,
                 deploy: bool = False) -> None:
        super().__init__()
        self.deploy = deploy
        self.preffn_bn = nn.Identity() if deploy else nn.BatchNorm2d(channels)
        self.pw1 = ConvBN(channels, hidden_channels, 1, padding=0, act_layer=nn.GELU,
                          deploy=deploy)
        self.pw2 = ConvBN(hidden_channels, channels, 1, padding=0, drop_path=drop_path,
                          deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw2(self.pw1(self.preffn_bn(x)), residual=x)


class RepLKNetStage(nn.Module):
    """``blocks`` (alternating :class:`RepLKBlock` and :class:`ConvFFN`) and the output ``norm``.

    ``norm`` is a BatchNorm on the stage output that is *returned* (the tensor passed on to the
    next stage is not normalized), or Identity. :class:`RepLKNet` runs the blocks.

    Args:
        channels (int): Stage channels.
        num_blocks (int): Number of (RepLKBlock, ConvFFN) pairs.
        kernel_size (int): Large kernel size.
        small_kernel (int, optional): Small re-parameterization kernel, or None.
        dw_ratio (float): Depthwise channels relative to ``channels``.
        ffn_ratio (float): FFN hidden channels relative to ``channels``.
        drop_path (Sequence[float]): Drop-path rate of each pair.
        with_norm (bool): Whether the returned output goes through a BatchNorm.
        deploy (bool): Build the fused form directly.
    """

    def __init__(self, channels: int, num_blocks: int, kernel_size: int,
                 small_kernel: Optional[int], dw_ratio: float, ffn_ratio: float,
                 drop_path: Sequence[float], with_norm: bool, deploy: bool) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        blocks = []
        for i in range(num_blocks):
            blocks.append(RepLKBlock(channels, int(channels * dw_ratio), kernel_size,
                                     small_kernel, drop_path[i], deploy=deploy))
            blocks.append(ConvFFN(channels, int(channels * ffn_ratio), drop_path[i],
                                  deploy=deploy))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.BatchNorm2d(channels) if with_norm else nn.Identity()


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

    On the CPU run it ``channels_last`` (:func:`mmmobile.layout.to_preferred_memory_format`):
    large depthwise kernels are fast there only in that layout. The fused (deploy) form's
    convolutions are :class:`~mmmobile.models.layers.fused.FusedConvAct` modules, which run
    through oneDNN in CPU inference (the large depthwise ones channels_last whatever the input).

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

    #: Large depthwise kernels run through oneDNN's direct kernel on the CPU only channels_last.
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
    arch_required_keys = ('large_kernel_sizes', 'layers', 'channels', 'small_kernel',
                          'dw_ratio', 'ffn_ratio')

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

        self._set_common_args(num_stages, out_indices, frozen_stages, norm_eval, with_cp, deploy)
        self.final_norm = final_norm
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
                              drop_rates[start:start + layers[stage]], with_norm, deploy))
            if stage < num_stages - 1:
                nxt = channels[stage + 1]
                self.transitions.append(nn.Sequential(
                    ConvBNReLU(channels[stage], nxt, 1, padding=0, deploy=deploy),
                    ConvBNReLU(nxt, nxt, 3, stride=2, padding=1, groups=nxt, deploy=deploy)))

    def _complete_arch(self, arch: Dict) -> Dict:
        arch = {key: arch[key] for key in self.arch_required_keys}
        lengths = {len(arch[k]) for k in ('large_kernel_sizes', 'layers', 'channels')}
        if len(lengths) != 1:
            raise ValueError('arch large_kernel_sizes, layers and channels must have the same '
                             'length')
        if any(n < 1 for n in arch['layers']):
            raise ValueError('every stage needs at least one block pair')
        return arch

    def forward(self, x: torch.Tensor) -> tuple:
        for layer in self.stem:
            x = self._run_block(layer, x)
        outs = []
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = self.transitions[index - 1](x)
            for block in stage.blocks:
                x = self._run_block(block, x)
            if index in self.out_indices:
                outs.append(stage.norm(x))
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
