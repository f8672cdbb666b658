"""Check that the data a config's dataloaders read exists, before the Runner is built.

Without this check a missing dataset surfaces as a long traceback from deep inside a dataset's
``load_data_list``. :func:`check_data_exists` instead stops with one message that names the path it
looked for and says how to get the data, or how to use the demo set instead.
"""
import glob
import os.path as osp
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence

from mmengine.config import Config

#: Keys of dataset wrappers that hold the wrapped dataset config(s).
WRAPPER_KEYS = ('dataset', 'datasets')

# How to get each standard dataset, matched on the dataset type or data_root.
_DATASET_HINTS = (
    (('coco', ), 'COCO (mmdet)', 'data/coco/{annotations/instances_train2017.json,'
     'annotations/instances_val2017.json,train2017/,val2017/}   '
     '(https://cocodataset.org/#download)'),
    (('ade', ), 'ADE20K (mmseg)', 'data/ade/ADEChallengeData2016/{images,annotations}/'
     '{training,validation}/   (http://data.csail.mit.edu/places/ADEchallenge/'
     'ADEChallengeData2016.zip)'),
    (('imagenet', ), 'ImageNet-1k (mmpretrain)', 'data/imagenet/{train,val}/ and '
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
        for item in _walk(loader_cfg['dataset'], f'{loader}.dataset'):
            if item.path not in seen:
                seen.add(item.path)
                missing.append(item)
    return missing


def _hint(missing: Sequence[MissingPath]) -> Optional[tuple]:
    text = ' '.join(f'{item.dataset_type} {item.data_root} {item.path}' for item in missing)
    text = text.lower()
    for keys, name, layout in _DATASET_HINTS:
        if any(key in text for key in keys):
            return name, layout
    return None


def demo_configs() -> List[str]:
    """Return the demo configs shipped under ``configs/demo/`` (relative paths), if any.

    Returns:
        list[str]: For example ``['configs/demo/xxx.py']``; empty when the folder is absent.
    """
    import mmmobile

    root = osp.dirname(osp.dirname(osp.abspath(mmmobile.__file__)))
    found = sorted(glob.glob(osp.join(root, 'configs', 'demo', '*.py')))
    return [osp.relpath(path, root) for path in found if not osp.basename(path).startswith('_')]


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
    root_key = missing[0].where.rsplit('.', 1)[0] + '.data_root'
    lines.append(f'    or point the config at it: --cfg-options {root_key}=/path/to/dataset')
    lines.append('  * or use the small demo set (no download):')
    lines.append('      python tools/make_demo_data.py')
    demos = demo_configs()
    if demos:
        for demo in demos[:4]:
            lines.append(f'      python {tool} {demo}' + (' CHECKPOINT' if 'test' in tool else ''))
    else:
        lines.append(f'      python {tool} configs/demo/<name>.py' +
                     (' CHECKPOINT' if 'test' in tool else ''))
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
