"""Adaptive gradient clipping (AGC) as a switch of mmengine's optimizer wrappers.

AGC (Brock et al., "High-Performance Large-Scale Image Recognition Without Normalization", ICML
2021) rescales each parameter's gradient, unit-wise, to at most ``clip_factor`` times the
parameter's norm. The official RepViT trainer clips with it (``--clip-mode agc --clip-grad 0.02``,
THU-MIG/RepViT ``main.py`` / ``engine.py``) through timm's ``adaptive_clip_grad`` on every
parameter of the model, the classifier included. mmengine's ``OptimWrapper`` only knows ``norm``
and ``value`` clipping, so the switch is an optimizer-wrapper constructor::

    optim_wrapper = dict(
        constructor='mmmobile.AGCOptimWrapperConstructor',
        clip_grad=dict(type='agc', clip_factor=0.02))

It builds the wrapper of the config (``OptimWrapper``, ``AmpOptimWrapper`` - the gradients are
unscaled first, as timm's ``NativeScaler`` does - or any other) with mmengine's default
parameter-group logic, then hands the wrapper's clipping step to timm's ``adaptive_clip_grad``.
The wrapper clips the parameters of its optimizer that have a gradient: with the default
constructor that is every parameter of the model (for a distillation classifier the student's;
the teacher is not a parameter of the model).
"""
import copy
from typing import Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmmobile.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: ``adaptive_clip_grad`` defaults of timm, completed by the config's ``clip_grad`` entries.
AGC_DEFAULTS = dict(clip_factor=0.01, eps=1e-3, norm_type=2.0)


def _adaptive_clip_grad():
    try:
        from timm.utils.agc import adaptive_clip_grad
    except ImportError as error:
        raise ImportError('clip_grad=dict(type="agc") uses timm\'s adaptive_clip_grad: '
                          'pip install timm') from error
    return adaptive_clip_grad


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class AGCOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor plus ``clip_grad=dict(type='agc', ...)``.

    Any other ``clip_grad`` (``norm``, ``value``) or none is passed to the wrapper unchanged.

    Args:
        optim_wrapper_cfg (dict): The ``optim_wrapper`` config (without ``constructor`` and
            ``paramwise_cfg``, which mmengine removes). ``clip_grad=dict(type='agc',
            clip_factor=..., eps=..., norm_type=...)`` selects AGC; missing entries take timm's
            defaults (``clip_factor`` 0.01, ``eps`` 1e-3, ``norm_type`` 2).
        paramwise_cfg (dict, optional): Parameter-wise options, as for the default constructor.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        clip_grad = optim_wrapper_cfg.get('clip_grad')
        self.agc_kwargs = None
        if isinstance(clip_grad, dict) and clip_grad.get('type') == 'agc':
            options = {key: value for key, value in clip_grad.items() if key != 'type'}
            unknown = sorted(set(options) - set(AGC_DEFAULTS))
            if unknown:
                raise ValueError(f'clip_grad type "agc" takes {sorted(AGC_DEFAULTS)}, '
                                 f'got unknown {unknown}')
            self.agc_kwargs = dict(AGC_DEFAULTS, **options)
            optim_wrapper_cfg.pop('clip_grad')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper; with AGC, its clipping step calls timm's AGC."""
        optim_wrapper = super().__call__(model)
        if self.agc_kwargs is not None:
            # OptimWrapper.step() clips (after unscaling, for AMP) whenever clip_grad_kwargs is
            # non-empty, by calling clip_func(params, **clip_grad_kwargs) on the parameters of
            # its optimizer that have a gradient.
            optim_wrapper.clip_func = _adaptive_clip_grad()
            optim_wrapper.clip_grad_kwargs = dict(self.agc_kwargs)
            optim_wrapper.grad_name = 'agc'
        return optim_wrapper
