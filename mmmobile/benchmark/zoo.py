"""The variants the benchmark knows: every ``arch`` of every registered mmmobile backbone.

Variants are enumerated from the registry (:data:`mmmobile.registry.MODELS`): every registered
:class:`~mmmobile.models.backbones.base.MobileBackbone` subclass with an ``arch_settings``
table contributes one variant per arch, named ``<family>-<arch>`` in lower case with ``_``
between digits written as ``.`` (``repvit-m1.0``, ``replknet-31b``, ``cmt-ti``,
``mobilevitv3-xxs``). A backbone that lands later appears without any change here; only its
paper numbers (:data:`PAPER_RESULTS`) are data to add.

Each variant is measured as the ImageNet classifier of its config in ``configs/cls/<family>/``
(the config whose test size is the variant's native resolution) or, when no config exists, as
the bare backbone.
"""
import functools
import glob
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..utils.paths import config_root

#: Paper (or official README) ImageNet-1K top-1 and the resolution it was measured at, per
#: backbone class and arch. RepViT: distilled 300-epoch models; RepLKNet: 31B ImageNet-1K,
#: 31L ImageNet-22K pre-trained, XL MegData-73M pre-trained; CMT: the official checkpoints;
#: MobileViTv3: the official README.
PAPER_RESULTS: Dict[str, Dict[str, Dict]] = {
    'RepViT': {
        'm0_6': dict(top1=74.1, resolution=224),
        'm0_9': dict(top1=78.7, resolution=224),
        'm1_0': dict(top1=80.0, resolution=224),
        'm1_1': dict(top1=80.7, resolution=224),
        'm1_5': dict(top1=82.3, resolution=224),
        'm2_3': dict(top1=83.3, resolution=224),
    },
    'RepLKNet': {
        '31B': dict(top1=83.5, resolution=224),
        '31L': dict(top1=86.6, resolution=384),
        'XL': dict(top1=87.8, resolution=320),
    },
    'CMT': {
        'ti': dict(top1=79.0, resolution=160),
        'xs': dict(top1=81.8, resolution=192),
        's': dict(top1=83.5, resolution=224),
        'b': dict(top1=84.5, resolution=256),
    },
    'MobileViTv3': {
        'xxs': dict(series='v1-based', top1=70.98, resolution=256),
        'xs': dict(series='v1-based', top1=76.7, resolution=256),
        's': dict(series='v1-based', top1=79.3, resolution=256),
        '0.5': dict(series='v2-based', top1=72.33, resolution=256),
        '0.75': dict(series='v2-based', top1=76.55, resolution=256),
        '1.0': dict(series='v2-based', top1=78.64, resolution=256),
        'xxs_l2': dict(series='L2', top1=70.23, resolution=256),
        'xs_l2': dict(series='L2', top1=76.10, resolution=256),
        's_l2': dict(series='L2', top1=79.06, resolution=256),
    },
}

DEFAULT_RESOLUTION = 224
CONFIG_ROOT = config_root()


@dataclass
class Variant:
    """One arch of one registered backbone.

    Args:
        name (str): Display name, e.g. ``'repvit-m1.0'``.
        family (str): Backbone class name, e.g. ``'RepViT'``.
        arch (str): Key of the class's ``arch_settings``.
        resolution (int): Native (paper) input size.
        top1 (float, optional): Paper ImageNet-1K top-1, if known.
        config (str, optional): The classification config measured for it, if one exists.
        series (str, optional): Sub-family plotted as its own line (MobileViTv3's v1-based,
            v2-based and L2 models scale differently).
    """

    name: str
    family: str
    arch: str
    resolution: int
    top1: Optional[float] = None
    config: Optional[str] = None
    series: Optional[str] = None


def normalize_name(name: str) -> str:
    """Lower case without ``.``, ``_`` and ``-``: how variant names are matched."""
    return re.sub(r'[._\-]', '', name.lower())


def variant_name(family: str, arch: str) -> str:
    """``('RepViT', 'm1_0') -> 'repvit-m1.0'``."""
    return f"{family.lower()}-{re.sub(r'(?<=[0-9])_(?=[0-9])', '.', arch).lower()}"


def backbone_classes() -> Dict[str, type]:
    """Registered mmmobile backbones with an ``arch_settings`` table, by class name."""
    import mmmobile.models  # noqa: F401  (registers everything)
    from mmmobile.models.backbones.base import MobileBackbone
    from mmmobile.registry import MODELS

    return {
        name: cls
        for name, cls in sorted(MODELS.module_dict.items())
        if isinstance(cls, type) and issubclass(cls, MobileBackbone)
        and isinstance(getattr(cls, 'arch_settings', None), dict)
    }


def config_input_size(cfg) -> Optional[Tuple[int, int]]:
    """``(H, W)`` the test pipeline of a classification config feeds the model, if it says.

    The last ``CenterCrop`` / ``Resize`` / ``RandomResizedCrop`` with a size wins (a ``Resize``
    to a square warps directly, as RepLKNet's 384 configs).
    """
    pipeline = []
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and isinstance(loader.get('dataset'), dict):
            pipeline = loader['dataset'].get('pipeline') or []
            if pipeline:
                break
    size = None
    for step in pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        value = step.get('crop_size') if kind == 'CenterCrop' else (
            step.get('scale') if kind in ('Resize', 'RandomResizedCrop') else None)
        if value is None:
            continue
        if isinstance(value, int):
            size = (value, value)
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            size = (int(value[1]), int(value[0]))  # OpenMMLab scales are (w, h)
    return size


@functools.lru_cache(maxsize=None)  # reading every config takes seconds
def _find_config(family: str, arch: str, resolution: int, config_root: str) -> Optional[str]:
    from mmengine.config import Config

    wanted = normalize_name(variant_name(family, arch))
    candidates = [
        path for path in sorted(glob.glob(osp.join(config_root, 'cls', family.lower(), '*.py')))
        if normalize_name(osp.basename(path).split('_')[0]) == wanted
    ]
    for path in candidates:
        try:
            size = config_input_size(Config.fromfile(path))
        except Exception:  # noqa: BLE001 - an unreadable config is simply not chosen
            continue
        if size == (resolution, resolution):
            return path
    return candidates[0] if candidates else None


def list_variants(config_root: Optional[str] = None) -> List[Variant]:
    """Every variant of every registered backbone, in registry and ``arch_settings`` order.

    Args:
        config_root (str, optional): Folder holding ``cls/<family>/*.py`` configs. Defaults to
            the repository's ``configs``.

    Returns:
        list[Variant]: The variants.
    """
    config_root = config_root or CONFIG_ROOT
    variants = []
    for family, cls in backbone_classes().items():
        paper = PAPER_RESULTS.get(family, {})
        for arch, settings in cls.arch_settings.items():
            info = paper.get(arch, {})
            resolution = info.get('resolution') or settings.get('img_size') or DEFAULT_RESOLUTION
            variants.append(
                Variant(variant_name(family, arch), family, arch, int(resolution),
                        info.get('top1'), _find_config(family, arch, int(resolution),
                                                       config_root), info.get('series')))
    return variants


def find_variant(name: str, variants: List[Variant]) -> Optional[Variant]:
    """The variant called ``name`` (``repvit-m1.0``, ``RepViT-M1_0``, ... all match)."""
    key = normalize_name(name)
    for variant in variants:
        if normalize_name(variant.name) == key:
            return variant
    return None
