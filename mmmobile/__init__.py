"""mmmobile: RepViT, RepLKNet, CMT and MobileViTv3 as an OpenMMLab plugin.

Importing :mod:`mmmobile` registers every model in the ``mmmobile`` registry scope (configs say
``type='mmmobile.RepViT'``) and activates the weights-only checkpoint allow-list of
:mod:`mmmobile.engine`.
"""
from . import engine, models  # noqa: F401  (registration side effects)
from . import deploy  # noqa: F401  (mmmobile.deploy.deploy: fuse, export, verify)
from .converters import convert_checkpoint
from .reparam import switch_to_deploy
from .version import __version__

__all__ = ['__version__', 'convert_checkpoint', 'deploy', 'switch_to_deploy']
