"""The OpenMMLab model index: ``model-index.yml`` and one ``metafile.yml`` per backbone family.

OpenMMLab tools (``mim search mmmobile``, ``mim download``) find models through these files. They
are generated (``python tools/model_index.py``) from the configs on disk and the tables below, so
they cannot drift from the configs: every config outside ``configs/_base_/`` becomes one model
(its family from the config's backbone type, its task and data set from its folder, its
architecture from the model types), and ``tools/model_index.py --check`` (and the test suite)
fails when the written files differ from what the configs give.

Typed here, once: per family the paper and the official code; per config the official weights
(release files of the authors, which ``tools/convert_ckpt.py FAMILY`` converts) and the paper's
results. Sources: ``checkpoints.md`` and the per-family reference sheets of the project, and the
papers' tables as quoted in the README.
"""
import contextlib
import glob
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional

import yaml

_REPVIT = 'https://github.com/THU-MIG/RepViT/releases/download/v1.0/'
_CMT = 'https://github.com/ggjy/CMT.pytorch/releases/download/release-v1/'
_DRIVE = 'https://drive.google.com/file/d/{}/view?usp=sharing'
_MOBILEVITV3 = 'https://github.com/micronDLA/MobileViTv3/releases/tag/v1.0.0'

#: Per backbone family (the config's backbone type): the paper and the official code.
COLLECTIONS: Dict[str, Dict[str, str]] = {
    'RepViT': dict(
        title='RepViT: Revisiting Mobile CNN From ViT Perspective',
        paper='https://arxiv.org/abs/2307.09283', code='https://github.com/THU-MIG/RepViT'),
    'RepLKNet': dict(
        title='Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design in CNNs',
        paper='https://arxiv.org/abs/2203.06717',
        code='https://github.com/DingXiaoH/RepLKNet-pytorch'),
    'CMT': dict(
        title='CMT: Convolutional Neural Networks Meet Vision Transformers',
        paper='https://arxiv.org/abs/2107.06263',
        code='https://github.com/huawei-noah/Efficient-AI-Backbones/tree/master/cmt_pytorch'),
    'MobileViTv3': dict(
        title='MobileViTv3: Mobile-Friendly Vision Transformer with Simple and Effective Fusion '
        'of Local, Global and Input Features',
        paper='https://arxiv.org/abs/2209.15159', code='https://github.com/micronDLA/MobileViTv3'),
}


def _cls(top1: float, weights: Optional[str] = None, name: Optional[str] = None,
         release: Optional[str] = None, pretrain: Optional[str] = None) -> Dict:
    return dict(metrics={'Top 1 Accuracy': top1}, weights=weights, name=name, release=release,
                pretrain=pretrain)


def _mvit(folder: str, top1: float) -> List[Dict]:
    return [_cls(top1, release=f'{_MOBILEVITV3} ({folder}/checkpoint_ema_best.pt)')]


#: Per config (file name without ``.py``): official weights and paper results. The first entry
#: is the model named after the config; further entries are other official weights for the same
#: architecture (``name``). ``release`` names weights that have no file URL of their own.
OFFICIAL: Dict[str, List[Dict]] = {
    # RepViT, ImageNet-1K (distilled; 300 and 450 epochs)
    'repvit-m0.6_8xb256-300e_in1k': [_cls(74.1, _REPVIT + 'repvit_m0_6_distill_300e.pth')],
    'repvit-m0.9_8xb256-300e_in1k': [
        _cls(78.7, _REPVIT + 'repvit_m0_9_distill_300e.pth'),
        _cls(79.1, _REPVIT + 'repvit_m0_9_distill_450e.pth', 'repvit-m0.9_official-450e_in1k')],
    'repvit-m1.0_8xb256-300e_in1k': [
        _cls(80.0, _REPVIT + 'repvit_m1_0_distill_300e.pth'),
        _cls(80.3, _REPVIT + 'repvit_m1_0_distill_450e.pth', 'repvit-m1.0_official-450e_in1k')],
    'repvit-m1.1_8xb256-300e_in1k': [
        _cls(80.7, _REPVIT + 'repvit_m1_1_distill_300e.pth'),
        _cls(81.2, _REPVIT + 'repvit_m1_1_distill_450e.pth', 'repvit-m1.1_official-450e_in1k')],
    'repvit-m1.5_8xb256-300e_in1k': [
        _cls(82.3, _REPVIT + 'repvit_m1_5_distill_300e.pth'),
        _cls(82.5, _REPVIT + 'repvit_m1_5_distill_450e.pth', 'repvit-m1.5_official-450e_in1k')],
    'repvit-m2.3_8xb256-300e_in1k': [
        _cls(83.3, _REPVIT + 'repvit_m2_3_distill_300e.pth'),
        _cls(83.7, _REPVIT + 'repvit_m2_3_distill_450e.pth', 'repvit-m2.3_official-450e_in1k')],
    # RepViT downstream (paper; the official COCO/ADE20K files hold mmdet/mmseg 0.x heads)
    'repvit_maskrcnn': [dict(metrics={'box AP': 39.8, 'mask AP': 37.2})],
    'mask-rcnn_repvit-m1.1_fpn_1x_coco': [dict(metrics={'box AP': 39.8, 'mask AP': 37.2})],
    'mask-rcnn_repvit-m1.5_fpn_1x_coco': [dict(metrics={'box AP': 41.6, 'mask AP': 38.6})],
    'mask-rcnn_repvit-m2.3_fpn_1x_coco': [dict(metrics={'box AP': 44.6, 'mask AP': 40.8})],
    'fpn_repvit-m1.1_8xb4-40k_ade20k-512x512': [dict(metrics={'mIoU': 40.6})],
    'fpn_repvit-m1.5_8xb4-40k_ade20k-512x512': [dict(metrics={'mIoU': 43.6})],
    'fpn_repvit-m2.3_8xb4-40k_ade20k-512x512': [dict(metrics={'mIoU': 46.1})],
    # RepLKNet, ImageNet-1K (Google Drive release of DingXiaoH/RepLKNet-pytorch)
    'replknet-31b_32xb64-300e_in1k': [
        _cls(83.5, _DRIVE.format('1azQUiCxK9feYVkkrPqwVPBtNsTzDrX7S'))],
    'replknet-31b_32xb32-30e_in1k-384px': [
        _cls(84.8, _DRIVE.format('1vo-P3XB6mRLUeDzmgv90dOu73uCeLfZN'))],
    'replknet-31l_32xb16-30e_in21k-pre_in1k-384px': [
        _cls(86.6, _DRIVE.format('1JYXoNHuRvC33QV1pmpzMTKEni1hpWfBl'), pretrain='ImageNet-21k')],
    'replknet-xl_32xb16-30e_meg73m-pre_in1k-320px': [
        _cls(87.8, _DRIVE.format('1tPC60El34GntXByIRHb-z-Apm4Y5LX1T'), pretrain='MegData-73M')],
    'cascade-mask-rcnn_replknet-31b_fpn_3x_coco': [dict(metrics={'box AP': 52.2,
                                                                 'mask AP': 45.2})],
    'upernet_replknet-31b_8xb4-160k_ade20k-512x512': [dict(metrics={'mIoU': 49.9})],
    # CMT, ImageNet-1K (release-v1 of ggjy/CMT.pytorch)
    'cmt-ti_8xb256-800e_in1k': [_cls(79.0, _CMT + 'cmt_tiny.pth')],
    'cmt-xs_8xb256-400e_in1k': [_cls(81.8, _CMT + 'cmt_xs.pth')],
    'cmt-s_8xb128-300e_in1k': [_cls(83.5, _CMT + 'cmt_small.pth')],
    'cmt-b_8xb64-300e_in1k': [_cls(84.5, _CMT + 'cmt_base.pth')],
    'retinanet_cmt-s_fpn_1x_coco': [dict(metrics={'box AP': 44.3})],
    # MobileViTv3, ImageNet-1K (release v1.0.0 of micronDLA/MobileViTv3: one folder per model)
    'mobilevitv3-xxs_8xb64-300e_in1k': _mvit('mobilevitv3_XXS_e300_7098', 70.98),
    'mobilevitv3-xs_8xb32-300e_in1k': _mvit('mobilevitv3_XS_e300_7671', 76.7),
    'mobilevitv3-s_8xb32-300e_in1k': _mvit('mobilevitv3_S_e300_7930', 79.3),
    'mobilevitv3-xxs-l2_8xb64-300e_in1k': _mvit('mobilevitv3_XXS_L2_e300_7023', 70.23),
    'mobilevitv3-xs-l2_8xb32-300e_in1k': _mvit('mobilevitv3_XS_L2_e300_7610', 76.10),
    'mobilevitv3-s-l2_8xb32-300e_in1k': _mvit('mobilevitv3_S_L2_e300_7906', 79.06),
    'mobilevitv3-0.5_8xb80-300e_in1k': _mvit('mobilevitv3_0_5_0', 72.33),
    'mobilevitv3-0.75_8xb80-300e_in1k': _mvit('mobilevitv3_0_7_5', 76.55),
    'mobilevitv3-1.0_8xb80-300e_in1k': _mvit('mobilevitv3_1_0_0', 78.64),
    'ssdlite_mobilevitv3-s_4xb32-200e_coco-320': [dict(metrics={'box AP': 27.3})],
    'ssdlite_mobilevitv3-xs_4xb32-200e_coco-320': [dict(metrics={'box AP': 25.6})],
    'ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320': [dict(metrics={'box AP': 19.3})],
    'ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320': [dict(metrics={'box AP': 27.0})],
    'ssdlite_mobilevitv3-0.75_4xb32-200e_coco-320': [dict(metrics={'box AP': 25.0})],
    'ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320': [dict(metrics={'box AP': 21.8})],
    'deeplabv3_mobilevitv3-1.0_4xb4-152k_ade20k-512x512': [dict(metrics={'mIoU': 39.13})],
    'deeplabv3_mobilevitv3-0.75_4xb4-152k_ade20k-512x512': [dict(metrics={'mIoU': 36.43})],
    'deeplabv3_mobilevitv3-0.5_4xb4-152k_ade20k-512x512': [dict(metrics={'mIoU': 33.57})],
}

#: Metric -> the task it measures.
METRIC_TASKS = {'Top 1 Accuracy': 'Image Classification', 'box AP': 'Object Detection',
                'mask AP': 'Instance Segmentation', 'mIoU': 'Semantic Segmentation'}
#: Config folder -> data set.
FOLDER_DATA = {'cls': 'ImageNet-1k', 'det': 'COCO', 'seg': 'ADE20K',
               'demo': 'synthetic demo data (tools/make_demo_data.py)'}

HEADER = ('# Generated by tools/model_index.py from the configs and mmmobile/model_index.py; '
          'do not edit.\n')
INDEX_FILE = 'model-index.yml'


@contextlib.contextmanager
def cached_toolbox_lookups() -> Iterator[None]:
    """Look each toolbox and its metafiles up once while configs are loaded inside the block.

    For every ``mmdet::`` / ``mmseg::`` / ``mmpretrain::`` base of a config, mmengine 0.10.7
    reloads ``pkg_resources`` (``is_installed``) and parses the toolbox's whole model index
    (``_get_cfg_metainfo``: about 400 YAML files for mmdet), about a second per config. Neither
    changes while the block runs, so repeated lookups are answered from memory.
    """
    from mmengine.config import config, utils
    original_load, original_installed = utils.load, config.is_installed
    files: Dict[str, object] = {}
    installed: Dict[str, bool] = {}

    def load(file, *args, **kwargs):
        if args or kwargs or not isinstance(file, str):
            return original_load(file, *args, **kwargs)
        if file not in files:
            files[file] = original_load(file)
        return files[file]

    def is_installed(package: str) -> bool:
        if package not in installed:
            installed[package] = original_installed(package)
        return installed[package]

    utils.load, config.is_installed = load, is_installed
    try:
        yield
    finally:
        utils.load, config.is_installed = original_load, original_installed


def find_configs(root: str) -> List[str]:
    """Every config below ``root/configs`` except the ``_base_`` fragments, relative to ``root``.

    Args:
        root (str): The repository (or ``.mim``) root.

    Returns:
        list[str]: Sorted ``configs/...py`` paths.
    """
    paths = glob.glob(osp.join(root, 'configs', '**', '*.py'), recursive=True)
    relative = [osp.relpath(p, root).replace(os.sep, '/') for p in paths]
    return sorted(p for p in relative if '/_base_/' not in p)


def metafile_path(family: str) -> str:
    """Where a family's metafile lives (beside its classification configs)."""
    return f'configs/cls/{family.lower()}/metafile.yml'


def _type_name(value) -> Optional[str]:
    return value.split('.')[-1] if isinstance(value, str) else None


def _architecture(model: Dict) -> List[str]:
    names = [_type_name((model.get('backbone') or {}).get('type'))]
    if model.get('type') not in (None, 'ImageClassifier'):
        names.append(_type_name(model['type']))
    for part in ('neck', 'decode_head', 'bbox_head'):
        node = model.get(part)
        if isinstance(node, dict):
            names.append(_type_name(node.get('type')))
    return [n for n in dict.fromkeys(names) if n]


def _results(metrics: Dict[str, float], dataset: str) -> List[Dict]:
    tasks: Dict[str, Dict[str, float]] = {}
    for metric, value in metrics.items():
        tasks.setdefault(METRIC_TASKS[metric], {})[metric] = value
    return [dict(Task=task, Dataset=dataset, Metrics=values) for task, values in tasks.items()]


def config_models(path: str, cfg) -> List[Dict]:
    """The model-index entries of one config.

    Args:
        path (str): ``configs/...py`` path.
        cfg (Config): The loaded config.

    Returns:
        list[dict]: One model named after the config, plus one per further official weights.
    """
    stem = osp.splitext(osp.basename(path))[0]
    folder = path.split('/')[1]
    backbone = cfg.model.get('backbone') or {}
    family = _type_name(backbone.get('type'))
    if family not in COLLECTIONS:
        raise ValueError(f'{path}: backbone type {backbone.get("type")!r} is no family of the '
                         f'model index ({", ".join(COLLECTIONS)})')
    dataset = FOLDER_DATA[folder]
    metadata = {'Training Data': dataset, 'Architecture': _architecture(cfg.model)}
    if backbone.get('deploy'):
        metadata['Deploy'] = 'fused form of ' + stem.replace('-deploy', '')
    entries = OFFICIAL.get(stem) or [dict(metrics={})]
    models = []
    for entry in entries:
        meta = dict(metadata)
        if entry.get('pretrain'):
            meta['Training Data'] = [entry['pretrain'], dataset]
        model = {'Name': entry.get('name') or stem, 'In Collection': family, 'Config': path,
                 'Metadata': meta}
        if entry['metrics']:
            model['Results'] = _results(entry['metrics'], dataset)
        if entry.get('weights'):
            model['Weights'] = entry['weights']
        if entry.get('weights') or entry.get('release'):
            if entry.get('release'):
                model['Weights Release'] = entry['release']
            model['Weights Format'] = ('official release file: convert with '
                                       f'tools/convert_ckpt.py {family.lower()}')
        models.append(model)
    return models


def build_model_index(root: str, loaded: Optional[Dict] = None) -> Dict[str, str]:
    """Generate the text of ``model-index.yml`` and of every family's ``metafile.yml``.

    Args:
        root (str): The repository root (``configs/`` below it).
        loaded (dict, optional): Receives ``configs/...py`` path -> the loaded ``Config`` of
            every config read.

    Returns:
        dict: Relative path -> file content.

    Raises:
        ValueError: A config whose family is unknown, or an :data:`OFFICIAL` entry without a
            config on disk.
    """
    from mmengine.config import Config

    configs = find_configs(root)
    stems = {osp.splitext(osp.basename(p))[0] for p in configs}
    stale = sorted(set(OFFICIAL) - stems)
    if stale:
        raise ValueError(f'OFFICIAL names configs that do not exist: {", ".join(stale)}')
    families: Dict[str, List[Dict]] = {name: [] for name in COLLECTIONS}
    with cached_toolbox_lookups():
        for path in configs:
            cfg = Config.fromfile(osp.join(root, path))
            if loaded is not None:
                loaded[path] = cfg
            for model in config_models(path, cfg):
                families[model['In Collection']].append(model)
    files = {}
    for family, models in families.items():
        if not models:
            continue
        info = COLLECTIONS[family]
        collection = {
            'Name': family,
            'Metadata': {'Architecture': [family]},
            'Paper': {'Title': info['title'], 'URL': info['paper']},
            'Code': {'URL': info['code']},
        }
        text = yaml.safe_dump({'Collections': [collection], 'Models': models},
                              sort_keys=False, width=100, allow_unicode=True)
        files[metafile_path(family)] = HEADER + text
    index = {'Import': sorted(files)}
    files[INDEX_FILE] = HEADER + yaml.safe_dump(index, sort_keys=False)
    return files


def check_model_index(root: str) -> List[str]:
    """The written index files that differ from what the configs give.

    Args:
        root (str): The repository root.

    Returns:
        list[str]: Relative paths that are missing or out of date (empty when all match).
    """
    stale = []
    for path, text in build_model_index(root).items():
        full = osp.join(root, path)
        if not osp.isfile(full):
            stale.append(path)
            continue
        with open(full, encoding='utf-8') as f:
            if f.read() != text:
                stale.append(path)
    return stale


def write_model_index(root: str) -> List[str]:
    """Write ``model-index.yml`` and the metafiles, each atomically.

    Args:
        root (str): The repository root.

    Returns:
        list[str]: The relative paths written.
    """
    from .utils.io import write_text_atomic
    files = build_model_index(root)
    for path, text in files.items():
        write_text_atomic(osp.join(root, path), text)
    return sorted(files)
