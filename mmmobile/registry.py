"""Registries of mmmobile: children of mmengine's root registries with the scope ``mmmobile``.

Configs of any OpenMMLab toolbox refer to our modules with the scope prefix, for example
``type='mmmobile.RepViT'``. The prefix makes mmengine import :mod:`mmmobile.registry` and then the
registry's ``locations`` on first use, so the plugin works with or without ``custom_imports`` and
cannot be shadowed by a same-named class of another toolbox (mmpretrain has its own ``RepLKNet``).

Inside our own modules, never build sub-modules through a registry by bare name: the active default
scope is mmdet's or mmseg's while a detector or segmentor is built. Use classes directly.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

#: Backbones, heads and other ``nn.Module`` classes of mmmobile.
MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmmobile', locations=['mmmobile.models'])

#: Runner hooks of mmmobile (``type='mmmobile.<Name>'`` in ``custom_hooks``).
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmmobile', locations=['mmmobile.engine'])

#: Optimizer-wrapper constructors (``optim_wrapper=dict(constructor='mmmobile.<Name>', ...)``).
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmmobile',
    locations=['mmmobile.engine.agc'])
