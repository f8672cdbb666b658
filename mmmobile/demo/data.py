"""Deterministic synthetic demo datasets in the COCO, ADE20K and ImageNet layouts.

Every image shows filled shapes of three classes, ``CLASSES = ('circle', 'square', 'triangle')``,
on a smooth noisy background with a few thin distractor lines. Shape colours are random (only
constrained to contrast with the background), so a model has to learn the shape, not a colour.
The same rasterized polygon (COCO's pixel-centre rule) paints the image, the COCO polygon and the
ADE20K label map, so they align. Each image draws from its own generator seeded with
``[seed, task, split, index]``: the same seed gives byte-identical files, and ``num_train`` does
not change the validation images.

Layouts below ``out_dir`` (``data/demo``):

* ``coco/`` (task ``det``): ``annotations/instances_{train,val}2017.json`` and
  ``{train,val}2017/000000000001.jpg``; 1-4 non-overlapping shapes per image, ``category_id``
  1 = circle, 2 = square, 3 = triangle, one polygon per ``segmentation``, ``area`` from
  pycocotools; image and annotation ids are unique across both splits.
* ``ade/ADEChallengeData2016/`` (task ``seg``): ``images/{training,validation}/000001.jpg`` and
  ``annotations/.../000001.png`` with 0 = background, 1-3 = the shapes (ADE20K's "other" = 0
  convention). Load with ``BaseSegDataset`` and ``reduce_zero_label=True`` (``num_classes=3``):
  ``ADE20KDataset`` refuses class names outside its own 150.
* ``imagenet/`` (task ``cls``): ``{train,val}/<class>/<class>_000000.JPEG``, one roughly centred
  shape per image, label ``index % 3``, and ``meta/{train,val,classes}.txt``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from mmmobile.utils import ToolError
from mmmobile.utils.files import staged_folder
from mmmobile.utils.io import files_below, foreign_files, read_manifest

#: The shape classes, in label order, of every task.
CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle')
#: Tasks in generation order and the folder each one writes below ``out_dir``.
TASK_DIRS: Dict[str, str] = {'det': 'coco', 'seg': 'ade', 'cls': 'imagenet'}
TASKS: Tuple[str, ...] = tuple(TASK_DIRS)
#: Default number of training / validation images and image side of each task.
DEFAULT_SIZES: Dict[str, Dict[str, int]] = {
    'det': dict(num_train=600, num_val=100, img_size=256),
    'seg': dict(num_train=200, num_val=50, img_size=128),
    'cls': dict(num_train=300, num_val=60, img_size=64),
}
#: The marker file that identifies a generated task folder and records its settings (``params``).
MARKER = '.demo_data.json'

# Bump whenever the files generated for the same settings change: the marker then no longer
# matches, and existing folders are regenerated with --overwrite instead of kept.
_VERSION = 2
_TASK_IDS = {'det': 1, 'seg': 2, 'cls': 3}
_SPLIT_IDS = {'train': 0, 'val': 1}
_LIMITS = dict(num_train=(1, 1_000_000), num_val=(1, 1_000_000), img_size=(32, 4096))
_CIRCLE_VERTICES = 48
_SIZE_RANGE = (0.12, 0.43)  # shape extent (2 x circumradius) as a fraction of the image side
_MAX_SHAPES = 4
_GAP = 0.02  # minimum gap between shapes and to the border, as a fraction of the image side


class _Shape(NamedTuple):
    label: int
    polygon: np.ndarray  # (N, 2) float64 (x, y) vertices, rounded to 2 decimals


def _shape_polygon(label: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """Vertices of a circle (48-gon), square or equilateral triangle with this circumcircle."""
    n = (_CIRCLE_VERTICES, 4, 3)[label]
    t = (0.0 if label == 0 else angle) + np.arange(n) * (2 * np.pi / n)
    return np.round(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1), 2)


def _polygon_mask(polygon: np.ndarray, img_size: int) -> np.ndarray:
    """Pixels whose centre ``(x + 0.5, y + 0.5)`` lies inside a convex polygon (COCO's rule).

    pycocotools' own rasterization differs from it only in single boundary pixels.
    """
    mask = np.zeros((img_size, img_size), bool)
    x0, y0 = np.maximum(np.floor(polygon.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(0)).astype(int), img_size)
    if x1 <= x0 or y1 <= y0:
        return mask
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    ends = np.roll(polygon, -1, axis=0)
    orientation = np.sign(np.sum(polygon[:, 0] * ends[:, 1] - ends[:, 0] * polygon[:, 1]))
    inside = np.ones((y1 - y0, x1 - x0), bool)
    for (px, py), (qx, qy) in zip(polygon, ends):
        inside &= orientation * ((qx - px) * (ys - py) - (qy - py) * (xs - px)) >= 0
    mask[y0:y1, x0:x1] = inside
    return mask


def _place_shapes(rng: np.random.Generator, img_size: int) -> List[_Shape]:
    """1-4 shapes of random class whose circumcircles keep a gap; the first one always fits."""
    gap = max(2.0, _GAP * img_size)
    placed: List[Tuple[float, float, float]] = []
    shapes: List[_Shape] = []
    for _ in range(int(rng.integers(1, _MAX_SHAPES + 1))):
        for _attempt in range(30):
            radius = rng.uniform(*_SIZE_RANGE) * img_size / 2
            lo, hi = radius + gap, img_size - radius - gap
            cx, cy = rng.uniform(lo, hi, size=2)
            if all(np.hypot(cx - x, cy - y) >= radius + r + gap for x, y, r in placed):
                break
        else:
            continue
        label = int(rng.integers(len(CLASSES)))
        placed.append((cx, cy, radius))
        shapes.append(_Shape(label, _shape_polygon(label, cx, cy, radius,
                                                   rng.uniform(0, 2 * np.pi))))
    return shapes


def _centred_shape(rng: np.random.Generator, img_size: int, label: int) -> _Shape:
    """One shape near the image centre, with random size, offset and rotation."""
    radius = rng.uniform(0.18, 0.38) * img_size
    jitter = rng.uniform(-0.12, 0.12, size=2) * img_size
    cx, cy = np.clip(img_size / 2 + jitter, radius + 1, img_size - radius - 1)
    return _Shape(label, _shape_polygon(label, cx, cy, radius, rng.uniform(0, 2 * np.pi)))


def _render(rng: np.random.Generator, img_size: int, shapes: List[_Shape]) -> np.ndarray:
    """Paint the shapes on a random background and add pixel noise; uint8 BGR image."""
    base = rng.uniform(50, 205, size=3)
    coarse = (base + rng.normal(0, 30, size=(4, 4, 3))).astype(np.float32)
    img = cv2.resize(coarse, (img_size, img_size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 3))):
        p1 = tuple(int(v) for v in rng.integers(0, img_size, size=2))
        p2 = tuple(int(v) for v in rng.integers(0, img_size, size=2))
        colour = tuple(float(v) for v in rng.uniform(0, 255, size=3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    for shape in shapes:
        (x0, y0), (x1, y1) = shape.polygon.min(0).astype(int), shape.polygon.max(0).astype(int)
        local_mean = img[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1].reshape(-1, 3).mean(0)
        for _ in range(20):
            colour = rng.uniform(0, 255, size=3)
            if np.abs(colour - local_mean).sum() >= 150:
                break
        else:
            colour = 255.0 - local_mean  # the complement always contrasts enough
        img[_polygon_mask(shape.polygon, img_size)] = tuple(float(v) for v in colour)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _encode(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == '.jpg' else [])
    if not ok:
        raise RuntimeError(f'OpenCV could not encode an image as {ext}')
    return buf.tobytes()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, separators=(',', ':')) + '\n').encode()


def _samples(seed: int, task: str, split: str, sizes: Dict[str, int],
             progress: bool) -> Iterator[Tuple[int, List[_Shape], np.ndarray]]:
    """Yield ``(index, shapes, image)`` for every image of one split."""
    from mmengine.utils import ProgressBar

    num, img_size = sizes[f'num_{split}'], sizes['img_size']
    bar = ProgressBar(num) if progress else None
    for index in range(num):
        rng = np.random.default_rng([seed, _TASK_IDS[task], _SPLIT_IDS[split], index])
        shapes = ([_centred_shape(rng, img_size, index % len(CLASSES))] if task == 'cls' else
                  _place_shapes(rng, img_size))
        yield index, shapes, _render(rng, img_size, shapes)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')


# Each layout yields (path relative to the task folder, file content); content None = a folder.
def _coco_files(seed: int, sizes: Dict[str, int], progress: bool) -> Iterator[Tuple[str, Any]]:
    from pycocotools import mask as mask_utils

    size = sizes['img_size']
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in
                  enumerate(CLASSES)]
    image_id = ann_id = 0
    for split in _SPLIT_IDS:
        images, anns = [], []
        for _, shapes, image in _samples(seed, 'det', split, sizes, progress):
            image_id += 1
            file_name = f'{image_id:012d}.jpg'
            yield f'{split}2017/{file_name}', _encode(image, '.jpg')
            images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
            for shape in shapes:
                ann_id += 1
                flat = [float(v) for v in shape.polygon.reshape(-1)]
                rle = mask_utils.merge(mask_utils.frPyObjects([flat], size, size))
                (x0, y0), (x1, y1) = shape.polygon.min(0), shape.polygon.max(0)
                anns.append(dict(
                    id=ann_id, image_id=image_id, category_id=shape.label + 1,
                    segmentation=[flat], area=float(mask_utils.area(rle)),
                    bbox=[float(x0), float(y0), round(float(x1 - x0), 2),
                          round(float(y1 - y0), 2)], iscrowd=0))
        info = dict(description='mmmobile synthetic shapes demo (COCO layout)',
                    version=str(_VERSION), seed=seed)
        yield f'annotations/instances_{split}2017.json', _json(dict(
            info=info, licenses=[], images=images, annotations=anns, categories=categories))


def _ade_files(seed: int, sizes: Dict[str, int], progress: bool) -> Iterator[Tuple[str, Any]]:
    size = sizes['img_size']
    for split, folder in (('train', 'training'), ('val', 'validation')):
        for index, shapes, image in _samples(seed, 'seg', split, sizes, progress):
            label = np.zeros((size, size), np.uint8)
            for shape in shapes:
                label[_polygon_mask(shape.polygon, size)] = shape.label + 1
            name = f'{index + 1:06d}'
            yield f'ADEChallengeData2016/images/{folder}/{name}.jpg', _encode(image, '.jpg')
            yield f'ADEChallengeData2016/annotations/{folder}/{name}.png', _encode(label, '.png')


def _imagenet_files(seed: int, sizes: Dict[str, int],
                    progress: bool) -> Iterator[Tuple[str, Any]]:
    yield 'meta/classes.txt', ''.join(f'{name}\n' for name in CLASSES).encode()
    for split in _SPLIT_IDS:
        yield from ((f'{split}/{name}', None) for name in CLASSES)  # also when left empty
        lines = []
        for index, shapes, image in _samples(seed, 'cls', split, sizes, progress):
            label = shapes[0].label
            rel = f'{CLASSES[label]}/{CLASSES[label]}_{index:06d}.JPEG'
            yield f'{split}/{rel}', _encode(image, '.jpg')
            lines.append(f'{rel} {label}\n')
        yield f'meta/{split}.txt', ''.join(lines).encode()


_LAYOUTS = {'det': _coco_files, 'seg': _ade_files, 'cls': _imagenet_files}


def _check_int(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ToolError(f'{name} must be an integer, got {value!r}', exit_code=2)
    if value < low or (high is not None and value > high):
        bounds = f'between {low} and {high}' if high is not None else f'>= {low}'
        raise ToolError(f'{name} must be {bounds}, got {value}', exit_code=2)
    return int(value)


def _settings(tasks: Iterable[str], seed: Any, sizes: Dict[str, Any]) -> Dict[str, dict]:
    """The validated settings of each selected task (what its marker records)."""
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    unknown = [task for task in tasks if task not in TASKS]
    if unknown or not tasks:
        raise ToolError(f'unknown task {unknown[0]!r}' if unknown else 'no task selected',
                        exit_code=2)
    known = set(_LIMITS) | {f'{task}_{field}' for task in TASKS for field in _LIMITS}
    bad = sorted(set(sizes) - known)
    if bad:
        raise ToolError(f'unknown size argument {bad[0]!r}: use num_train, num_val, img_size or '
                        'a task prefix (det_num_train)', exit_code=2)
    seed = _check_int('seed', seed, 0)
    settings = {}
    for task in TASKS:
        if task in tasks:
            settings[task] = dict(format_version=_VERSION, task=task, seed=seed)
            for field, (low, high) in _LIMITS.items():
                value = sizes.get(f'{task}_{field}', sizes.get(field, DEFAULT_SIZES[task][field]))
                settings[task][field] = _check_int(f'{task} {field}', value, low, high)
            settings[task]['classes'] = list(CLASSES)
    return settings


def _recorded_settings(target: str) -> Optional[dict]:
    """The settings in ``target``'s marker, None if ``target`` is absent or an empty folder."""
    if not osp.lexists(target) or (osp.isdir(target) and not os.listdir(target)):
        return None
    try:
        with open(osp.join(target, MARKER), encoding='utf-8') as f:
            recorded = json.load(f)['params']
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if not isinstance(recorded, dict):
        raise ToolError(f'{target} exists and was not made by make_demo_data; it is left '
                        'untouched: move it away or choose another output folder')
    return recorded


def make_demo_data(out_dir: str = 'data/demo', tasks: Iterable[str] = TASKS, seed: int = 0,
                   overwrite: bool = False, progress: bool = True,
                   **sizes: int) -> Dict[str, str]:
    """Generate the demo datasets of the selected tasks below ``out_dir``.

    A task folder that holds demo data made with the same settings is kept. One made with other
    settings is regenerated only with ``overwrite=True``; any other existing folder is never
    touched. Everything is checked before anything is written, and each task folder is built
    beside its target and moved into place only when complete.

    Args:
        out_dir (str): Root folder; gets ``coco/``, ``ade/`` and/or ``imagenet/``.
        tasks (Iterable[str]): Any of ``'det'``, ``'seg'`` and ``'cls'``. Defaults to all.
        seed (int): Random seed (>= 0). Defaults to 0.
        overwrite (bool): Regenerate demo folders made with other settings. Defaults to False.
        progress (bool): Show progress bars. Defaults to True.
        **sizes (int): Overrides of :data:`DEFAULT_SIZES`: ``num_train``, ``num_val`` and
            ``img_size`` for every selected task, ``det_num_train``, ``seg_img_size`` ... for one.

    Returns:
        dict[str, str]: ``'written'`` or ``'kept'`` for each selected task.

    Raises:
        ToolError: Invalid settings, or an existing folder that is in the way.
    """
    settings = _settings(tasks, seed, sizes)
    if osp.lexists(out_dir) and not osp.isdir(out_dir):
        raise ToolError(f'{out_dir} exists and is not a folder')
    states = {}
    for task, wanted in settings.items():
        target = osp.join(out_dir, TASK_DIRS[task])
        recorded = _recorded_settings(target)
        states[task] = 'kept' if recorded == wanted else 'written'
        foreign = foreign_files(target, MARKER) if recorded not in (None, wanted) else []
        if foreign and read_manifest(target, MARKER) is None:
            raise ToolError(f'{target} was made by an older make_demo_data that did not list its '
                            'files, so files of yours in it cannot be told apart: delete it '
                            'yourself to regenerate it')
        if foreign:  # regenerating would remove them
            raise ToolError(f'{target} holds files make_demo_data did not write '
                            f'({", ".join(foreign[:5])}{" ..." if len(foreign) > 5 else ""}); '
                            'they are never removed, even with --overwrite: move them away or '
                            'choose another output folder')
        if recorded not in (None, wanted) and not overwrite:
            keys = [key for key in wanted if recorded.get(key) != wanted[key]]
            have = ', '.join(f'{key}={recorded.get(key)!r}' for key in keys)
            want = ', '.join(f'{key}={wanted[key]!r}' for key in keys)
            raise ToolError(f'{target} holds demo data made with {have} (requested {want}); '
                            'pass --overwrite (overwrite=True) to regenerate it')
    created_root = not osp.exists(out_dir)
    try:
        for task, state in states.items():
            if state == 'written':
                _write_task(osp.join(out_dir, TASK_DIRS[task]), settings[task], progress)
    finally:
        if created_root and osp.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
    return states


def _write_task(target: str, settings: dict, progress: bool) -> None:
    sizes = {field: settings[field] for field in _LIMITS}
    with staged_folder(target) as staging:
        for rel, content in _LAYOUTS[settings['task']](settings['seed'], sizes, progress):
            path = osp.join(staging, rel)
            os.makedirs(path if content is None else osp.dirname(path), exist_ok=True)
            if content is not None:
                with open(path, 'wb') as f:
                    f.write(content)
        with open(osp.join(staging, MARKER), 'wb') as f:
            f.write(_json(dict(generator=__name__, params=settings,
                               files=files_below(staging, MARKER))))
