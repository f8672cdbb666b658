"""Behaviour every mmmobile backbone shares: freezing, ``norm_eval`` and model-level fusion."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import reparameterize_children


def _contiguous_outputs(module: nn.Module, args: tuple, outputs: tuple) -> tuple:
    """Forward hook: the output maps in the contiguous (NCHW) layout."""
    return tuple(out.contiguous() for out in outputs)


class MobileBackbone(BaseModule):
    """Base class of the mmmobile backbones (the mmpretrain backbone contract).

    Subclasses set ``self.stem``, ``self.stages`` (indexable), ``self.frozen_stages``,
    ``self.norm_eval``, ``self.with_cp`` and ``self.deploy``, and declare the class attributes
    ``arch_settings`` (variant name -> arch dict) and ``arch_required_keys``. This class provides:

    - :meth:`_parse_arch`: a variant name or a custom arch dict -> a checked private copy
      (subclasses add defaults and checks in :meth:`_complete_arch`);
    - :meth:`_run_block`: one block, under activation checkpointing when ``with_cp`` is set;
    - :meth:`_set_common_args`: checks and stores ``out_indices``, ``frozen_stages``,
      ``norm_eval``, ``with_cp`` and ``deploy``;

    - :meth:`train`: set the mode, then re-freeze ``frozen_stages`` and keep every BatchNorm in
      eval mode when ``norm_eval`` is set (the order mmdet established); returns ``self``;
    - :meth:`switch_to_deploy`: fuse every re-parameterizable block in place;
    - contiguous (NCHW) output maps, whatever layout the blocks ran in (fused paths run
      channels_last): mmcv's CPU RoIAlign reads its input as NCHW whatever the strides, so
      channels_last maps gave Mask R-CNN wrong boxes from correct features.

    Args:
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    arch_settings: Dict[str, dict] = {}
    arch_required_keys: Tuple[str, ...] = ()
    with_cp = False

    def __init__(self, init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.register_forward_hook(_contiguous_outputs)

    def _parse_arch(self, arch: Union[str, Dict]) -> Dict:
        """A variant name (case-insensitive) or an arch dict -> a checked deep copy."""
        family = type(self).__name__
        if isinstance(arch, str):
            names = {name.lower(): name for name in self.arch_settings}
            if arch.lower() not in names:
                raise ValueError(f'Unknown {family} arch {arch!r}; choose one of '
                                 f'{sorted(self.arch_settings)} or pass a dict')
            arch = self.arch_settings[names[arch.lower()]]
        elif not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        missing = set(self.arch_required_keys) - set(arch)
        if missing:
            raise ValueError(f'{family} arch dict is missing {sorted(missing)}')
        return self._complete_arch(copy.deepcopy(arch))

    def _complete_arch(self, arch: Dict) -> Dict:
        """Fill the defaults of a copied arch dict and check it (a hook for subclasses)."""
        return arch

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``block(x)``, recomputed in the backward pass when ``with_cp`` is set."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def _set_common_args(self, num_stages: int, out_indices: Union[int, Sequence[int]],
                         frozen_stages: int, norm_eval: bool, with_cp: bool,
                         deploy: bool) -> None:
        """Check and store the arguments every backbone takes (``out_indices`` normalized)."""
        self.out_indices = self._normalize_out_indices(out_indices, num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = deploy

    @staticmethod
    def _normalize_out_indices(out_indices: Union[int, Sequence[int]],
                               num_stages: int) -> Tuple[int, ...]:
        """Stage indices as a tuple of non-negative ints (negative ones count from the end)."""
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        normalized = tuple(i + num_stages if i < 0 else i for i in out_indices)
        for index in normalized:
            if not 0 <= index < num_stages:
                raise ValueError(f'out_indices {index} is out of range for {num_stages} stages')
        return normalized

    def _frozen_modules(self) -> List[nn.Module]:
        """Modules frozen by ``frozen_stages``: ``-1`` none, ``0`` the stem, ``i`` the stem and
        stages ``0..i-1``. Backbones with extra per-stage modules extend this list."""
        if self.frozen_stages < 0:
            return []
        return [self.stem] + [self.stages[i] for i in range(self.frozen_stages)]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MobileBackbone':
        """Set train mode, then re-apply ``frozen_stages`` and ``norm_eval``."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fuse every re-parameterizable block in place; equals the model built with
        ``deploy=True``."""
        reparameterize_children(self)
        self.deploy = True
