"""Check that the data a config's dataloaders read exists, before the Runner is built.

Without this check a missing dataset surfaces as a long traceback from deep inside a dataset's
``load_data_list``. :func:`check_data_exists` instead stops with one message that names the path it
looked for and says how to get the data, or how to use the demo set instead.
"""
import glob
import os.path as osp
import re
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from mmengine.config import Config

#: Keys of dataset wrappers that hold the wrapped dataset config(s).
WRAPPER_KEYS = ('dataset', 'datasets')

# How to get each standard dataset, matched on the dataset type or data_root.
_DATASET_HINTS = (
    (('coco', 'lvis', 'objects365'), 'COCO (mmdet)',
     'data/coco/{annotations/instances_train2017.json,annotations/instances_val2017.json,'
     'train2017/,val2017/}   '
     '(https://cocodataset.org/#download)'),
    (('ade', ), 'ADE20K (mmseg)', 'data/ade/ADEChallengeData2016/{images,annotations}/'
     '{training,validation}/   (http://data.csail.mit.edu/places/ADEchallenge/'
     'ADEChallengeData2016.zip)'),
    (('imagenet', 'in1k'), 'ImageNet-1k (mmpretrain)', 'data/imagenet/{train,val}/ and '
     'data/imagenet/meta/{train,val}.txt   (https://image-net.org/download.php)'),
)
_GENERIC_LAYOUTS = ('data/coco (COCO, mmdet), data/ade/ADEChallengeData2016 (ADE20K, mmseg), '
                    'data/imagenet (ImageNet, mmpretrain)')


class MissingPath(NamedTuple):
    """A path a dataset config refers to that does not exist.

    Attributes:
        path: The path looked for (``data_root`` joined in, as the dataset will do).
        where: The config key, e.g. ``'train_dataloader.dataset.ann_file'``.
        dataset_type: The ``type`` of the dataset config.
        data_root: The dataset's ``data_root`` (may be empty).
    """
    path: str
    where: str
    dataset_type: str
    data_root: str


class MissingDataError(FileNotFoundError):
    """The data of a dataloader is missing; ``str(error)`` is the full user-facing message."""

    def __init__(self, message: str, missing: Sequence[MissingPath]) -> None:
        super().__init__(message)
        self.missing = list(missing)

    def __str__(self) -> str:
        return self.args[0]


def _is_remote(path: str) -> bool:
    return '://' in path or path.startswith(('s3:', 'http:', 'https:'))


def _join(data_root: str, path: str) -> str:
    if not data_root or osp.isabs(path) or _is_remote(path):
        return path
    return osp.join(data_root, path)


def _dataset_paths(dataset: dict, where: str) -> Iterable[MissingPath]:
    """Yield the missing paths of one (non-wrapper) dataset config."""
    backend = (dataset.get('backend_args') or {}).get('backend', 'local')
    if backend != 'local' or dataset.get('download'):
        return  # remote storage, or a dataset that downloads itself
    data_root = dataset.get('data_root') or ''
    dtype = str(dataset.get('type', '?'))
    if not isinstance(data_root, str):
        return
    if data_root and not _is_remote(data_root) and not osp.exists(data_root):
        yield MissingPath(data_root, f'{where}.data_root', dtype, data_root)
        return  # everything else lives under it
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file:
        path = _join(data_root, ann_file)
        if not _is_remote(path) and not osp.exists(path):
            yield MissingPath(path, f'{where}.ann_file', dtype, data_root)
    prefix = dataset.get('data_prefix')
    prefixes = prefix.items() if isinstance(prefix, dict) else [('', prefix)]
    for key, value in prefixes:
        if not isinstance(value, str) or not value:
            continue
        path = _join(data_root, value)
        if not _is_remote(path) and not osp.exists(path):
            name = f'{where}.data_prefix' + (f'.{key}' if key else '')
            yield MissingPath(path, name, dtype, data_root)


def _walk(dataset: Any, where: str) -> Iterable[MissingPath]:
    if isinstance(dataset, (list, tuple)):
        for index, item in enumerate(dataset):
            yield from _walk(item, f'{where}[{index}]')
        return
    if not isinstance(dataset, dict):
        return
    wrapped = [key for key in WRAPPER_KEYS if key in dataset]
    if wrapped:
        for key in wrapped:
            yield from _walk(dataset[key], f'{where}.{key}')
        return
    yield from _dataset_paths(dataset, where)


def find_missing_data(cfg: Config,
                      loaders: Sequence[str] = ('train_dataloader', 'val_dataloader',
                                                'test_dataloader')) -> List[MissingPath]:
    """List the data roots, annotation files and image folders of ``loaders`` that do not exist.

    Relative paths are resolved like mmengine's ``BaseDataset`` does (joined with ``data_root``)
    and then relative to the current directory. Wrappers (``RepeatDataset``, ``ConcatDataset``,
    ``ClassBalancedDataset``, ``MultiImageMixDataset``, ...) are followed through their
    ``dataset``/``datasets`` keys. Remote storage (``backend_args``, URLs) and datasets that
    download themselves are skipped.

    Args:
        cfg: The config.
        loaders: Top-level dataloader keys to check; absent or ``None`` ones are skipped.

    Returns:
        list[MissingPath]: Missing paths, without duplicates, in config order.
    """
    missing, seen = [], set()
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict) or 'dataset' not in loader_cfg:
            continue
        found = list(_walk(loader_cfg['dataset'], f'{loader}.dataset'))
        evaluator = loader.replace('_dataloader', '_evaluator')
        found += _evaluator_paths(cfg.get(evaluator), evaluator)
        for item in found:
            if item.path not in seen:
                seen.add(item.path)
                missing.append(item)
    return missing


def _evaluator_paths(evaluator: Any, where: str) -> Iterable[MissingPath]:
    """Yield the missing ``ann_file`` of metrics (e.g. ``CocoMetric``) of an evaluator config."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator, where = evaluator['metrics'], f'{where}.metrics'
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    for index, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            continue
        ann_file = metric.get('ann_file')
        backend = (metric.get('backend_args') or {}).get('backend', 'local')
        if (isinstance(ann_file, str) and ann_file and backend == 'local'
                and not _is_remote(ann_file) and not osp.exists(ann_file)):
            name = where + (f'[{index}]' if isinstance(evaluator, (list, tuple)) else '')
            yield MissingPath(ann_file, f'{name}.ann_file', str(metric.get('type', '?')), '')


# Demo config name fragments that go with each standard dataset (same order as _DATASET_HINTS).
_DEMO_KEYS = (('coco', 'det', 'rcnn'), ('ade', 'seg'), ('in1k', 'imagenet', 'cls'))


def _hint(missing: Sequence[MissingPath]) -> Optional[Tuple[str, str, Tuple[str, ...]]]:
    """Return (dataset name, standard layout, demo name keys) for the missing dataset, if known."""
    text = ' '.join(f'{item.dataset_type} {item.data_root} {item.path}' for item in missing)
    text = text.lower()
    for (keys, name, layout), demo_keys in zip(_DATASET_HINTS, _DEMO_KEYS):
        if any(key in text for key in keys):
            return name, layout, demo_keys
    return None


def demo_configs() -> List[str]:
    """Return the demo configs shipped with mmmobile (``configs/demo/*.py``), if any.

    Returns:
        list[str]: Paths relative to the current folder when they lie below it (in a checkout:
        ``['configs/demo/xxx.py', ...]``), else absolute (an installed package's ``.mim``).
    """
    from mmmobile.utils.paths import config_root

    root = config_root()
    found = sorted(glob.glob(osp.join(root, 'demo', '*.py'))) if root else []
    paths = [osp.relpath(path) for path in found if not osp.basename(path).startswith('_')]
    return [path if not path.startswith('..') else osp.abspath(path) for path in paths]


def missing_data_message(missing: Sequence[MissingPath], tool: str = 'tools/train.py') -> str:
    """Build the user-facing message for missing data.

    Args:
        missing: Result of :func:`find_missing_data` (non-empty).
        tool: The tool to suggest with the demo configs.

    Returns:
        str: A multi-line message.
    """
    lines = ['dataset not found: looked for']
    for item in missing[:6]:
        lines.append(f'  {item.path}   ({item.where}, {item.dataset_type})')
    if len(missing) > 6:
        lines.append(f'  ... and {len(missing) - 6} more')
    hint = _hint(missing)
    lines.append('To fix it, either:')
    if hint is not None:
        lines.append(f'  * put {hint[0]} in the standard layout: {hint[1]}')
    else:
        lines.append(f'  * put the dataset where the config expects it (standard layouts: '
                     f'{_GENERIC_LAYOUTS})')
    first = missing[0].where
    if '_evaluator' in first.split('.', 1)[0]:
        lines.append(f'    or point the config at it: --cfg-options {first}=/path/to/annotations')
    else:
        root_key = re.sub(r'\.(data_root|ann_file|data_prefix)(\..*)?$', '', first)
        lines.append(f'    or point the config at it: --cfg-options {root_key}.data_root='
                     '/path/to/dataset')
    lines.append('  * or use the small demo set (no download):')
    lines.append('      python tools/make_demo_data.py')
    demos = demo_configs()
    if hint is not None:  # demo configs of the same task first
        matching = [demo for demo in demos if any(key in osp.basename(demo) for key in hint[2])]
        demos = matching or demos
    if demos:
        for demo in demos[:4]:
            lines.append(f'      python {tool} {demo}' + (' CHECKPOINT' if 'test' in tool else ''))
    else:
        lines.append(f'      python {tool} configs/demo/<name>.py' +
                     (' CHECKPOINT' if 'test' in tool else ''))
    return '\n'.join(lines)


def _missing_local(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and not _is_remote(path) and not osp.exists(path)


def find_missing_pretrained(cfg: Config, drop: bool = False) -> List[MissingPath]:
    """List (and optionally drop) local pretrained checkpoints of ``cfg.model`` that do not exist.

    Looks at ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (alone or in an ``init_cfg``
    list) anywhere in the model config and at string ``pretrained=`` entries; URLs and
    ``prefix://`` names are skipped (mmengine downloads them).

    Args:
        cfg: The config.
        drop: Remove the missing entries from ``cfg.model`` (in place): such an ``init_cfg``
            becomes ``None`` (or leaves its list), ``pretrained`` becomes ``None``, so the model
            starts from its default random initialisation.

    Returns:
        list[MissingPath]: The missing files (``dataset_type`` holds ``'Pretrained'``).
    """
    missing: List[MissingPath] = []

    def is_pretrained(init: Any) -> bool:
        return (isinstance(init, dict) and str(init.get('type', '')).endswith('Pretrained')
                and _missing_local(init.get('checkpoint')))

    def visit(obj: Any, where: str) -> None:
        if isinstance(obj, (list, tuple)):
            for index, value in enumerate(obj):
                visit(value, f'{where}[{index}]')
            return
        if not isinstance(obj, dict):
            return
        for key in list(obj.keys()):
            value = obj[key]
            if key == 'init_cfg' and isinstance(value, (dict, list)):
                inits = value if isinstance(value, list) else [value]
                kept = []
                for index, init in enumerate(inits):
                    if is_pretrained(init):
                        suffix = f'[{index}]' if isinstance(value, list) else ''
                        missing.append(MissingPath(init['checkpoint'],
                                                   f'{where}.init_cfg{suffix}.checkpoint',
                                                   'Pretrained', ''))
                    else:
                        kept.append(init)
                if drop and len(kept) < len(inits):
                    obj[key] = kept if isinstance(value, list) and kept else None
            elif key == 'pretrained' and _missing_local(value):
                missing.append(MissingPath(value, f'{where}.pretrained', 'Pretrained', ''))
                if drop:
                    obj[key] = None
            else:
                visit(value, f'{where}.{key}')

    visit(cfg.get('model'), 'model')
    return missing


def missing_pretrained_message(missing: Sequence[MissingPath]) -> str:
    """Build the warning for missing pretrained weights (the run goes on from scratch).

    Args:
        missing: Result of :func:`find_missing_pretrained` (non-empty).

    Returns:
        str: A multi-line message.
    """
    lines = ['pretrained weights not found, training from random initialisation instead:']
    lines += [f'  {item.path}   ({item.where})' for item in missing]
    lines.append('To fine-tune from them, put the checkpoint there (see the config and the README: '
                 'download the release file and convert it with tools/convert_ckpt.py).')
    return '\n'.join(lines)


def check_data_exists(cfg: Config,
                      loaders: Sequence[str] = ('train_dataloader', 'val_dataloader'),
                      tool: str = 'tools/train.py') -> None:
    """Raise :class:`MissingDataError` when data referenced by ``loaders`` is missing.

    Args:
        cfg: The config.
        loaders: Top-level dataloader keys to check.
        tool: The tool named in the message's demo commands.

    Raises:
        MissingDataError: With the message of :func:`missing_data_message`.
    """
    missing = find_missing_data(cfg, loaders)
    if missing:
        raise MissingDataError(missing_data_message(missing, tool), missing)
