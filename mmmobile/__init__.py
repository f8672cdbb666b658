"""mmmobile: RepViT, RepLKNet, CMT and MobileViTv3 as an OpenMMLab plugin.

Importing :mod:`mmmobile` (as any ``type='mmmobile.X'`` in a config does) registers the models in
the ``mmmobile`` registry scope and loads the checkpoint converters, nothing else: the subpackages
``apis``, ``benchmark``, ``demo``, ``deploy`` and ``engine`` are imported on first use
(``mmmobile.deploy.deploy(...)``, ``from mmmobile.engine import run_train``).
"""
import importlib
from typing import Any

from . import models  # noqa: F401  (registers the models)
from .converters import convert_checkpoint
from .reparam import switch_to_deploy
from .version import __version__

_ON_FIRST_USE = ('apis', 'benchmark', 'demo', 'deploy', 'engine')

__all__ = ['__version__', 'convert_checkpoint', 'switch_to_deploy']


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
