"""Deterministic, learnable synthetic demo datasets in the real OpenMMLab layouts.

Every image shows filled geometric shapes of three classes on a smooth, noisy, randomly coloured
background with a few thin distractor lines (drawn with OpenCV). Shapes are convex polygons
rasterized with COCO's pixel-centre rule, and the very same masks paint the images and the label
maps, so images, COCO polygons and ADE20K label maps align. Shape colours are random per shape
(only constrained to contrast with the background), so a model has to learn the *shape*, not a
colour. Everything is derived from one integer ``seed`` through :func:`numpy.random.default_rng`:
each image gets its own generator seeded with ``[seed, task, split, index]``, so the same seed gives
byte-identical annotation files, and changing ``num_train`` does not change the validation images.

Classes (the same three, in this order, for every task)::

    CLASSES = ('circle', 'square', 'triangle')

Layouts written below ``out_dir`` (``data/demo`` by default):

``coco/`` (task ``det``, :func:`make_coco_demo`)
    COCO instance segmentation like ``data/coco``::

        coco/annotations/instances_train2017.json
        coco/annotations/instances_val2017.json
        coco/train2017/000000000001.jpg ...
        coco/val2017/000000000601.jpg ...

    1-4 non-overlapping shapes per image (size 12%-43% of the image side, 30-110 px at 256 px),
    ``category_id`` 1 = circle, 2 = square, 3 = triangle; ``segmentation`` is a list with one
    polygon, ``bbox`` is ``[x, y, w, h]`` of the polygon, ``area`` is the pixel area of the polygon
    rasterized by pycocotools, ``iscrowd`` is 0. Image ids (and file names) and annotation ids are
    unique across both splits. Load with ``mmdet.datasets.CocoDataset`` and
    ``metainfo=dict(classes=CLASSES)``; mmdet's ``bbox_label`` is then 0 = circle, 1 = square,
    2 = triangle (``num_classes=3`` in the heads).

``ade/ADEChallengeData2016/`` (task ``seg``, :func:`make_ade_demo`)
    ADE20K semantic segmentation layout::

        ade/ADEChallengeData2016/images/training/000001.jpg ...
        ade/ADEChallengeData2016/images/validation/000001.jpg ...
        ade/ADEChallengeData2016/annotations/training/000001.png ...   (uint8, single channel)
        ade/ADEChallengeData2016/annotations/validation/000001.png ...

    Label values in the PNG files, following the ADE20K convention (0 = "other"):
    ``0`` = background, ``1`` = circle, ``2`` = square, ``3`` = triangle.

    * ADE20K style (recommended, like the real ADE20K configs): ``reduce_zero_label=True`` maps
      0 -> 255 (ignored) and k -> k - 1, so the classes are ``SEG_CLASSES`` =
      ``('circle', 'square', 'triangle')`` with training labels 0, 1, 2 and ``num_classes=3``
      in the decode heads; background pixels are ignored by the loss and by the metric.
    * With background as a class: ``reduce_zero_label=False``, classes
      ``('background', 'circle', 'square', 'triangle')`` and ``num_classes=4``.

    Use ``type='BaseSegDataset'`` with ``img_suffix='.jpg'``, ``seg_map_suffix='.png'``,
    ``reduce_zero_label=True`` and ``metainfo=dict(classes=SEG_CLASSES, palette=SEG_PALETTE)``:
    ``ADE20KDataset`` refuses class names that are not among its own 150 ADE20K classes (mmseg
    raises ``ValueError: new classes ... is not a subset of classes ... in METAINFO``).

``imagenet/`` (task ``cls``, :func:`make_imagenet_demo`)
    ImageNet classification layout used by mmpretrain::

        imagenet/train/circle/circle_000000.JPEG ...   (one folder per class)
        imagenet/val/square/square_000001.JPEG ...
        imagenet/meta/train.txt    ("circle/circle_000000.JPEG 0" lines, relative to train/)
        imagenet/meta/val.txt
        imagenet/meta/classes.txt  (one class name per line, in label order)

    One shape per image, roughly centred, with random colour, size and position jitter; labels
    0 = circle, 1 = square, 2 = triangle (``num_classes=3``; the folder names sort in label
    order, so ``CustomDataset`` without an ``ann_file`` finds the same labels).

Default sizes (:data:`DEFAULT_SIZES`): det 600 train / 100 val images of 256x256, seg 200 / 50 of
128x128, cls 300 / 60 of 64x64.

Each task folder (``coco``, ``ade``, ``imagenet``) is built in a temporary sibling folder and
renamed into place only when complete, and holds a small manifest (``.demo_data.json``) with the
generation settings: calling the generator again with the same settings is a no-op, different
settings need ``overwrite=True``.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

__all__ = [
    'CLASSES', 'SEG_CLASSES', 'SEG_CLASSES_WITH_BACKGROUND', 'SEG_PALETTE', 'TASKS', 'TASK_DIRS',
    'DEFAULT_SIZES', 'MANIFEST_NAME', 'make_coco_demo', 'make_ade_demo', 'make_imagenet_demo',
    'make_demo_data'
]

#: The shape classes, in label order, shared by all tasks.
CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle')
#: Segmentation classes after ``reduce_zero_label=True`` (PNG value k -> training label k - 1).
SEG_CLASSES: Tuple[str, ...] = CLASSES
#: Segmentation classes with ``reduce_zero_label=False`` (PNG value k = training label k).
SEG_CLASSES_WITH_BACKGROUND: Tuple[str, ...] = ('background', ) + CLASSES
#: A palette for :data:`SEG_CLASSES` (prepend a colour for the background variant).
SEG_PALETTE: List[List[int]] = [[220, 20, 60], [0, 130, 200], [60, 180, 75]]
#: Task names accepted by :func:`make_demo_data`, in generation order.
TASKS: Tuple[str, ...] = ('det', 'seg', 'cls')
#: The folder below ``out_dir`` that each task writes.
TASK_DIRS: Dict[str, str] = {'det': 'coco', 'seg': 'ade', 'cls': 'imagenet'}
#: Default ``num_train``, ``num_val`` and ``img_size`` of each task.
DEFAULT_SIZES: Dict[str, Dict[str, int]] = {
    'det': dict(num_train=600, num_val=100, img_size=256),
    'seg': dict(num_train=200, num_val=50, img_size=128),
    'cls': dict(num_train=300, num_val=60, img_size=64),
}
#: Name of the manifest file written into every task folder.
MANIFEST_NAME = '.demo_data.json'

_FORMAT_VERSION = 2  # bump whenever the generated files change for the same settings
_GENERATOR = 'mmmobile.datasets.demo_data'
_SIZE_FIELDS = ('num_train', 'num_val', 'img_size')
_TASK_IDS = {'det': 1, 'seg': 2, 'cls': 3}
_SPLIT_IDS = {'train': 0, 'val': 1}
_MIN_IMG_SIZE = 32
_MAX_IMG_SIZE = 4096
_MAX_IMAGES = 1_000_000
_JPEG_QUALITY = 95
_CIRCLE_VERTICES = 48
# Shapes of the multi-object tasks: extent (2 x circumradius) as a fraction of the image side.
_MULTI_SIZE_RANGE = (0.12, 0.43)
_MULTI_MAX_SHAPES = 4
_GAP = 0.02  # minimum gap between shapes and to the border, as a fraction of the image side


@dataclass
class _Shape:
    """One filled shape: its 0-based class label and its polygon in COCO pixel coordinates."""
    label: int
    polygon: np.ndarray  # (N, 2) float64, (x, y), already rounded to 2 decimals


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _check_int(name: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` if it is an int in ``[low, high]``, else raise a clear ``ValueError``.

    Args:
        name (str): Name used in the error message.
        value (Any): The value to check.
        low (int): Smallest allowed value.
        high (int): Largest allowed value.

    Returns:
        int: ``value`` as a plain Python int.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if not low <= int(value) <= high:
        raise ValueError(f'{name} must be between {low} and {high}, got {value}')
    return int(value)


def _check_sizes(num_train: Any, num_val: Any, img_size: Any, seed: Any,
                 prefix: str = '') -> Tuple[int, int, int, int]:
    """Validate the size settings and the seed of one task.

    Args:
        num_train (Any): Number of training images.
        num_val (Any): Number of validation images.
        img_size (Any): Side of the square images in pixels.
        seed (Any): Random seed.
        prefix (str): Prefix of the names in error messages, e.g. ``'det_'``.

    Returns:
        tuple[int, int, int, int]: ``num_train, num_val, img_size, seed``.
    """
    return (_check_int(f'{prefix}num_train', num_train, 1, _MAX_IMAGES),
            _check_int(f'{prefix}num_val', num_val, 1, _MAX_IMAGES),
            _check_int(f'{prefix}img_size', img_size, _MIN_IMG_SIZE, _MAX_IMG_SIZE),
            _check_int('seed', seed, 0, 2**63 - 1))


# --------------------------------------------------------------------------------------------
# Geometry and rendering
# --------------------------------------------------------------------------------------------
def _shape_polygon(label: int, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """Vertices of a shape with the given circumcircle and rotation.

    Args:
        label (int): 0 = circle, 1 = square, 2 = triangle (equilateral).
        cx (float): Centre x in pixels.
        cy (float): Centre y in pixels.
        radius (float): Circumradius in pixels.
        angle (float): Rotation in radians (ignored for circles).

    Returns:
        np.ndarray: ``(N, 2)`` float64 array of ``(x, y)`` vertices rounded to 2 decimals.
    """
    if label == 0:
        n, angle = _CIRCLE_VERTICES, 0.0
    else:
        n = 4 if label == 1 else 3
    t = angle + np.arange(n) * (2 * np.pi / n)
    poly = np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)
    return np.round(poly, 2)


def _polygon_mask(polygon: np.ndarray, img_size: int) -> np.ndarray:
    """Rasterize a convex polygon given in COCO pixel coordinates.

    A pixel ``(x, y)`` belongs to the shape when its centre ``(x + 0.5, y + 0.5)`` lies inside
    the polygon (COCO's convention). The same mask is used to paint the image, to write the
    segmentation label map and to check the COCO annotations, so images and labels align exactly;
    pycocotools' own rasterization differs only in single boundary pixels.

    Args:
        polygon (np.ndarray): ``(N, 2)`` vertices ``(x, y)`` of a convex polygon.
        img_size (int): Side of the square image.

    Returns:
        np.ndarray: ``(img_size, img_size)`` bool mask.
    """
    mask = np.zeros((img_size, img_size), bool)
    x0, y0 = np.maximum(np.floor(polygon.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(0)).astype(int), img_size)
    if x1 <= x0 or y1 <= y0:
        return mask
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    ends = np.roll(polygon, -1, axis=0)
    # orientation of the vertex order (+1 counter-clockwise in x-right/y-down coordinates)
    orientation = np.sign(np.sum(polygon[:, 0] * ends[:, 1] - ends[:, 0] * polygon[:, 1]))
    inside = np.ones((y1 - y0, x1 - x0), bool)
    for (px, py), (qx, qy) in zip(polygon, ends):
        inside &= orientation * ((qx - px) * (ys - py) - (qy - py) * (xs - px)) >= 0
    mask[y0:y1, x0:x1] = inside
    return mask


def _place_shapes(rng: np.random.Generator, img_size: int, num_shapes: int,
                  size_range: Tuple[float, float]) -> List[_Shape]:
    """Place up to ``num_shapes`` shapes of random class so that their circumcircles are disjoint.

    The first shape always fits; later shapes that cannot be placed after a few tries are dropped,
    so every image has at least one shape.

    Args:
        rng (np.random.Generator): The image's generator.
        img_size (int): Side of the square image.
        num_shapes (int): Number of shapes wanted.
        size_range (tuple[float, float]): Range of the shape extent (twice the circumradius) as
            fractions of ``img_size``.

    Returns:
        list[_Shape]: The placed shapes.
    """
    gap = max(2.0, _GAP * img_size)
    placed: List[Tuple[float, float, float]] = []
    shapes: List[_Shape] = []
    for _ in range(num_shapes):
        for _attempt in range(30):
            radius = rng.uniform(*size_range) * img_size / 2
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


def _background(rng: np.random.Generator, img_size: int) -> np.ndarray:
    """A smooth random colour field with a few thin distractor lines.

    Args:
        rng (np.random.Generator): The image's generator.
        img_size (int): Side of the square image.

    Returns:
        np.ndarray: ``(img_size, img_size, 3)`` float32 image in ``[0, 255]``.
    """
    base = rng.uniform(50, 205, size=3)
    coarse = (base + rng.normal(0, 30, size=(4, 4, 3))).astype(np.float32)
    img = cv2.resize(coarse, (img_size, img_size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 3))):
        p1 = tuple(int(v) for v in rng.integers(0, img_size, size=2))
        p2 = tuple(int(v) for v in rng.integers(0, img_size, size=2))
        colour = tuple(float(v) for v in rng.uniform(0, 255, size=3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    return img


def _contrasting_colour(rng: np.random.Generator, local_mean: np.ndarray) -> Tuple[float, ...]:
    """A random colour that differs clearly from the background around a shape.

    Args:
        rng (np.random.Generator): The image's generator.
        local_mean (np.ndarray): Mean background colour under the shape, shape ``(3,)``.

    Returns:
        tuple[float, ...]: The colour as 3 floats.
    """
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - local_mean).sum() >= 150:
            return tuple(float(v) for v in colour)
    return tuple(float(v) for v in 255.0 - local_mean)  # the complement is always far enough


def _render(rng: np.random.Generator, img_size: int, shapes: Sequence[_Shape]) -> np.ndarray:
    """Draw ``shapes`` on a random background and add pixel noise.

    Args:
        rng (np.random.Generator): The image's generator.
        img_size (int): Side of the square image.
        shapes (Sequence[_Shape]): The shapes to draw (they must not overlap).

    Returns:
        np.ndarray: ``(img_size, img_size, 3)`` uint8 image.
    """
    img = _background(rng, img_size)
    for shape in shapes:
        (x0, y0), (x1, y1) = shape.polygon.min(0).astype(int), shape.polygon.max(0).astype(int)
        local_mean = img[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1].reshape(-1, 3).mean(0)
        img[_polygon_mask(shape.polygon, img_size)] = _contrasting_colour(rng, local_mean)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _encode(img: np.ndarray, ext: str) -> bytes:
    """Encode an image as JPEG (quality 95) or PNG.

    Args:
        img (np.ndarray): uint8 image, ``(H, W)`` or ``(H, W, 3)``.
        ext (str): ``'.jpg'`` or ``'.png'``.

    Returns:
        bytes: The encoded file.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if ext == '.jpg' else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode an image as {ext}')
    return buf.tobytes()


def _write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``.

    Args:
        path (str): Destination file.
        data (bytes): File content.
    """
    with open(path, 'wb') as f:
        f.write(data)


def _image_rng(seed: int, task: str, split: str, index: int) -> np.random.Generator:
    """The generator of one image, independent of how many images are generated.

    Args:
        seed (int): The global seed.
        task (str): Task name.
        split (str): ``'train'`` or ``'val'``.
        index (int): Index of the image within the split.

    Returns:
        np.random.Generator: A fresh generator.
    """
    return np.random.default_rng([seed, _TASK_IDS[task], _SPLIT_IDS[split], index])


def _progress(items: Sequence[Any], show: bool) -> Iterator[Any]:
    """Iterate over ``items`` with mmengine's progress bar when ``show`` is true.

    Args:
        items (Sequence[Any]): The items.
        show (bool): Whether to show the progress bar.

    Yields:
        Any: The items in order.
    """
    bar = ProgressBar(len(items)) if show else None
    for item in items:
        yield item
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')
        bar.file.flush()


def _dump_json(obj: Any, path: str) -> None:
    """Write ``obj`` as compact JSON with a stable layout.

    Args:
        obj (Any): JSON-serializable object.
        path (str): Destination file.
    """
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')


# --------------------------------------------------------------------------------------------
# Atomic task folders with a manifest
# --------------------------------------------------------------------------------------------
def _count_files(root: str) -> int:
    """Number of regular files below ``root`` (without the manifest).

    Args:
        root (str): A folder.

    Returns:
        int: The file count.
    """
    total = sum(len(files) for _, _, files in os.walk(root))
    return total - int(osp.isfile(osp.join(root, MANIFEST_NAME)))


def _conflict(target: str, params: Dict[str, Any]) -> Optional[str]:
    """Compare an existing task folder with the requested settings.

    Args:
        target (str): The task folder.
        params (dict): The requested settings (the manifest's ``params``).

    Returns:
        str | None: ``None`` if ``target`` does not exist, ``''`` if it holds exactly the requested
        data (complete, same settings), otherwise a short reason why it differs.
    """
    if not osp.lexists(target):
        return None
    if not osp.isdir(target):
        return 'it is not a folder'
    try:
        with open(osp.join(target, MANIFEST_NAME), encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return 'it was not created by make_demo_data'
    old = manifest.get('params') if isinstance(manifest, dict) else None
    if not isinstance(old, dict):
        return 'its manifest is invalid'
    if old != params:
        keys = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
        have = ', '.join(f'{k}={old.get(k)!r}' for k in keys)
        want = ', '.join(f'{k}={params.get(k)!r}' for k in keys)
        return f'it was generated with {have} (requested {want})'
    if _count_files(target) != manifest.get('num_files'):
        return 'files were added or removed since it was generated'
    return ''


def _build_task_dir(target: str, params: Dict[str, Any], build: Callable[[str], Dict[str, Any]],
                    overwrite: bool) -> Dict[str, Any]:
    """Build a task folder in a temporary sibling and rename it into place when complete.

    Args:
        target (str): The task folder to create.
        params (dict): Generation settings, stored in the manifest and compared on reruns.
        build (Callable[[str], dict]): Writes the data into the given folder and returns counts.
        overwrite (bool): Replace an existing folder that holds different data (or the same).

    Returns:
        dict: ``build``'s counts plus ``root`` (the task folder) and ``skipped`` (whether existing
        identical data was kept).
    """
    reason = _conflict(target, params)
    if reason == '' and not overwrite:
        with open(osp.join(target, MANIFEST_NAME), encoding='utf-8') as f:
            counts = json.load(f)['counts']
        print_log(f'{target} is already up to date (seed {params["seed"]}); kept it',
                  logger='current')
        return dict(counts, root=target, skipped=True)
    if reason and not overwrite:
        raise FileExistsError(f'{target} already exists and differs: {reason}; '
                              'pass --overwrite (overwrite=True) to replace it')
    parent, name = osp.split(osp.abspath(target))
    os.makedirs(parent, exist_ok=True)
    stamp = f'{os.getpid()}-{time.time_ns()}'
    tmp = osp.join(parent, f'.{name}.tmp-{stamp}')
    os.mkdir(tmp)
    try:
        start = time.perf_counter()
        counts = build(tmp)
        manifest = dict(generator=_GENERATOR, params=params, counts=counts,
                        num_files=_count_files(tmp))
        _dump_json(manifest, osp.join(tmp, MANIFEST_NAME))
        if osp.lexists(target):
            old = osp.join(parent, f'.{name}.old-{stamp}')
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print_log(f'wrote {target} in {time.perf_counter() - start:.1f} s: {counts}',
              logger='current')
    return dict(counts, root=target, skipped=False)


def _task_params(task: str, seed: int, num_train: int, num_val: int,
                 img_size: int) -> Dict[str, Any]:
    """The manifest ``params`` of one task.

    Args:
        task (str): Task name.
        seed (int): Random seed.
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Image side.

    Returns:
        dict: The settings that determine the generated files.
    """
    return dict(format_version=_FORMAT_VERSION, task=task, seed=seed, num_train=num_train,
                num_val=num_val, img_size=img_size, classes=list(CLASSES))


# --------------------------------------------------------------------------------------------
# det: COCO
# --------------------------------------------------------------------------------------------
def _write_coco(root: str, num_train: int, num_val: int, img_size: int, seed: int,
                progress: bool) -> Dict[str, Any]:
    """Write the COCO layout into ``root``.

    Args:
        root (str): Destination folder (the future ``coco`` folder).
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Image side.
        seed (int): Random seed.
        progress (bool): Show a progress bar.

    Returns:
        dict: Image and annotation counts per split.
    """
    try:
        from pycocotools import mask as mask_utils
    except ImportError as e:  # pragma: no cover - pycocotools is a dependency of mmdet
        raise ImportError('the det demo data needs pycocotools (installed with mmdet)') from e
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in
                  enumerate(CLASSES)]
    counts: Dict[str, Any] = {}
    image_id = ann_id = 0
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir)
        images: List[Dict[str, Any]] = []
        anns: List[Dict[str, Any]] = []
        for index in _progress(range(num), progress):
            rng = _image_rng(seed, 'det', split, index)
            shapes = _place_shapes(rng, img_size, int(rng.integers(1, _MULTI_MAX_SHAPES + 1)),
                                   _MULTI_SIZE_RANGE)
            image_id += 1
            file_name = f'{image_id:012d}.jpg'
            _write_bytes(osp.join(img_dir, file_name),
                         _encode(_render(rng, img_size, shapes), '.jpg'))
            images.append(dict(id=image_id, file_name=file_name, width=img_size,
                               height=img_size))
            for shape in shapes:
                ann_id += 1
                flat = [float(v) for v in shape.polygon.reshape(-1)]
                rle = mask_utils.merge(mask_utils.frPyObjects([flat], img_size, img_size))
                (x0, y0), (x1, y1) = shape.polygon.min(0), shape.polygon.max(0)
                anns.append(
                    dict(id=ann_id, image_id=image_id, category_id=shape.label + 1,
                         segmentation=[flat], area=float(mask_utils.area(rle)),
                         bbox=[float(x0), float(y0), round(float(x1 - x0), 2),
                               round(float(y1 - y0), 2)], iscrowd=0))
        coco = dict(info=dict(description='mmmobile synthetic shapes demo (COCO layout)',
                              version=str(_FORMAT_VERSION), seed=seed),
                    licenses=[], images=images, annotations=anns, categories=categories)
        _dump_json(coco, osp.join(root, 'annotations', f'instances_{split}2017.json'))
        counts[f'num_{split}'] = num
        counts[f'num_{split}_instances'] = len(anns)
    return counts


def make_coco_demo(out_dir: str, num_train: int = 600, num_val: int = 100, img_size: int = 256,
                   seed: int = 0, overwrite: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Generate the COCO-format instance segmentation demo set (task ``det``).

    Args:
        out_dir (str): The ``coco`` folder to create, e.g. ``'data/demo/coco'``.
        num_train (int): Number of ``train2017`` images. Defaults to 600.
        num_val (int): Number of ``val2017`` images. Defaults to 100.
        img_size (int): Side of the square images in pixels (32-4096). Defaults to 256.
        seed (int): Random seed (>= 0). Defaults to 0.
        overwrite (bool): Replace an existing folder. Without it an existing folder generated
            with the same settings is kept and any other existing folder raises
            ``FileExistsError``. Defaults to False.
        progress (bool): Show mmengine progress bars. Defaults to True.

    Returns:
        dict: ``root``, ``skipped``, ``num_train``, ``num_val``, ``num_train_instances`` and
        ``num_val_instances``.
    """
    num_train, num_val, img_size, seed = _check_sizes(num_train, num_val, img_size, seed)
    return _build_task_dir(
        out_dir, _task_params('det', seed, num_train, num_val, img_size),
        lambda root: _write_coco(root, num_train, num_val, img_size, seed, progress), overwrite)


# --------------------------------------------------------------------------------------------
# seg: ADE20K
# --------------------------------------------------------------------------------------------
def _write_ade(root: str, num_train: int, num_val: int, img_size: int, seed: int,
               progress: bool) -> Dict[str, Any]:
    """Write the ADE20K layout into ``root``.

    Args:
        root (str): Destination folder (the future ``ade`` folder).
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Image side.
        seed (int): Random seed.
        progress (bool): Show a progress bar.

    Returns:
        dict: Image counts per split and the number of pixels of each PNG label value.
    """
    data_root = osp.join(root, 'ADEChallengeData2016')
    pixels = np.zeros(len(CLASSES) + 1, np.int64)
    counts: Dict[str, Any] = {}
    for split, folder, num in (('train', 'training', num_train),
                               ('val', 'validation', num_val)):
        img_dir = osp.join(data_root, 'images', folder)
        ann_dir = osp.join(data_root, 'annotations', folder)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for index in _progress(range(num), progress):
            rng = _image_rng(seed, 'seg', split, index)
            shapes = _place_shapes(rng, img_size, int(rng.integers(1, _MULTI_MAX_SHAPES + 1)),
                                   _MULTI_SIZE_RANGE)
            label = np.zeros((img_size, img_size), np.uint8)
            for shape in shapes:
                label[_polygon_mask(shape.polygon, img_size)] = shape.label + 1
            pixels += np.bincount(label.reshape(-1), minlength=len(pixels))
            name = f'{index + 1:06d}'
            _write_bytes(osp.join(img_dir, name + '.jpg'),
                         _encode(_render(rng, img_size, shapes), '.jpg'))
            _write_bytes(osp.join(ann_dir, name + '.png'), _encode(label, '.png'))
        counts[f'num_{split}'] = num
    counts['pixels_per_label'] = {int(v): int(n) for v, n in enumerate(pixels)}
    return counts


def make_ade_demo(out_dir: str, num_train: int = 200, num_val: int = 50, img_size: int = 128,
                  seed: int = 0, overwrite: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Generate the ADE20K-layout semantic segmentation demo set (task ``seg``).

    PNG label values: 0 = background, 1 = circle, 2 = square, 3 = triangle (see the module
    docstring for matching ``reduce_zero_label`` / ``num_classes`` settings).

    Args:
        out_dir (str): The ``ade`` folder to create (it gets ``ADEChallengeData2016/`` inside),
            e.g. ``'data/demo/ade'``.
        num_train (int): Number of ``training`` images. Defaults to 200.
        num_val (int): Number of ``validation`` images. Defaults to 50.
        img_size (int): Side of the square images in pixels (32-4096). Defaults to 128.
        seed (int): Random seed (>= 0). Defaults to 0.
        overwrite (bool): Replace an existing folder; see :func:`make_coco_demo`.
            Defaults to False.
        progress (bool): Show mmengine progress bars. Defaults to True.

    Returns:
        dict: ``root``, ``skipped``, ``num_train``, ``num_val`` and ``pixels_per_label``.
    """
    num_train, num_val, img_size, seed = _check_sizes(num_train, num_val, img_size, seed)
    return _build_task_dir(
        out_dir, _task_params('seg', seed, num_train, num_val, img_size),
        lambda root: _write_ade(root, num_train, num_val, img_size, seed, progress), overwrite)


# --------------------------------------------------------------------------------------------
# cls: ImageNet
# --------------------------------------------------------------------------------------------
def _write_imagenet(root: str, num_train: int, num_val: int, img_size: int, seed: int,
                    progress: bool) -> Dict[str, Any]:
    """Write the ImageNet layout into ``root``.

    Image ``i`` of a split has label ``i % 3``, so the classes are balanced.

    Args:
        root (str): Destination folder (the future ``imagenet`` folder).
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Image side.
        seed (int): Random seed.
        progress (bool): Show a progress bar.

    Returns:
        dict: Image counts per split and per class.
    """
    os.makedirs(osp.join(root, 'meta'))
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.write(''.join(f'{name}\n' for name in CLASSES))
    counts: Dict[str, Any] = {}
    for split, num in (('train', num_train), ('val', num_val)):
        for name in CLASSES:
            os.makedirs(osp.join(root, split, name))
        lines: List[str] = []
        per_class = [0] * len(CLASSES)
        for index in _progress(range(num), progress):
            rng = _image_rng(seed, 'cls', split, index)
            label = index % len(CLASSES)
            radius = rng.uniform(0.18, 0.38) * img_size
            jitter = rng.uniform(-0.12, 0.12, size=2) * img_size
            lo, hi = radius + 1, img_size - radius - 1
            cx, cy = np.clip(img_size / 2 + jitter, lo, hi)
            shape = _Shape(label, _shape_polygon(label, cx, cy, radius, rng.uniform(0, 2 * np.pi)))
            rel = f'{CLASSES[label]}/{CLASSES[label]}_{index:06d}.JPEG'
            _write_bytes(osp.join(root, split, rel), _encode(_render(rng, img_size, [shape]),
                                                             '.jpg'))
            lines.append(f'{rel} {label}\n')
            per_class[label] += 1
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write(''.join(lines))
        counts[f'num_{split}'] = num
        counts[f'num_{split}_per_class'] = dict(zip(CLASSES, per_class))
    return counts


def make_imagenet_demo(out_dir: str, num_train: int = 300, num_val: int = 60, img_size: int = 64,
                       seed: int = 0, overwrite: bool = False,
                       progress: bool = True) -> Dict[str, Any]:
    """Generate the ImageNet-layout classification demo set (task ``cls``).

    Labels: 0 = circle, 1 = square, 2 = triangle.

    Args:
        out_dir (str): The ``imagenet`` folder to create, e.g. ``'data/demo/imagenet'``.
        num_train (int): Number of ``train`` images. Defaults to 300.
        num_val (int): Number of ``val`` images. Defaults to 60.
        img_size (int): Side of the square images in pixels (32-4096). Defaults to 64.
        seed (int): Random seed (>= 0). Defaults to 0.
        overwrite (bool): Replace an existing folder; see :func:`make_coco_demo`.
            Defaults to False.
        progress (bool): Show mmengine progress bars. Defaults to True.

    Returns:
        dict: ``root``, ``skipped``, ``num_train``, ``num_val``, ``num_train_per_class`` and
        ``num_val_per_class``.
    """
    num_train, num_val, img_size, seed = _check_sizes(num_train, num_val, img_size, seed)
    return _build_task_dir(
        out_dir, _task_params('cls', seed, num_train, num_val, img_size),
        lambda root: _write_imagenet(root, num_train, num_val, img_size, seed, progress),
        overwrite)


# --------------------------------------------------------------------------------------------
# All tasks
# --------------------------------------------------------------------------------------------
_MAKERS: Dict[str, Callable[..., Dict[str, Any]]] = {
    'det': make_coco_demo,
    'seg': make_ade_demo,
    'cls': make_imagenet_demo,
}


def _resolve_sizes(tasks: Sequence[str], sizes: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per-task sizes from the defaults and ``sizes`` keyword arguments.

    Args:
        tasks (Sequence[str]): The selected tasks.
        sizes (dict): Keys ``num_train``/``num_val``/``img_size`` (all selected tasks) or
            ``<task>_num_train`` etc. (one task; wins over the generic key).

    Returns:
        dict[str, dict]: ``{task: dict(num_train=..., num_val=..., img_size=...)}``.
    """
    valid = set(_SIZE_FIELDS) | {f'{t}_{k}' for t in TASKS for k in _SIZE_FIELDS}
    unknown = sorted(set(sizes) - valid)
    if unknown:
        raise ValueError(f'unknown size argument(s) {", ".join(unknown)}; use num_train, '
                         'num_val, img_size or a task prefix such as det_num_train')
    resolved = {}
    for task in tasks:
        resolved[task] = {
            key: sizes.get(f'{task}_{key}', sizes.get(key, DEFAULT_SIZES[task][key]))
            for key in _SIZE_FIELDS
        }
        _check_sizes(**resolved[task], seed=0, prefix=f'{task} ')
    return resolved


def _normalize_tasks(tasks: Iterable[str]) -> Tuple[str, ...]:
    """Validate ``tasks`` and return them without duplicates in the canonical order.

    Args:
        tasks (Iterable[str]): Task names.

    Returns:
        tuple[str, ...]: The selected tasks, ordered like :data:`TASKS`.
    """
    if isinstance(tasks, str):
        tasks = [tasks]
    tasks = list(tasks)
    unknown = sorted({str(t) for t in tasks} - set(TASKS))
    if unknown:
        raise ValueError(f'unknown task(s) {", ".join(unknown)}; choose from {", ".join(TASKS)}')
    if not tasks:
        raise ValueError(f'no task selected; choose from {", ".join(TASKS)}')
    return tuple(t for t in TASKS if t in tasks)


def make_demo_data(out_dir: str = 'data/demo', tasks: Iterable[str] = TASKS, seed: int = 0,
                   overwrite: bool = False, progress: bool = True,
                   **sizes: int) -> Dict[str, Dict[str, Any]]:
    """Generate the demo datasets of the selected tasks below ``out_dir``.

    All arguments and all existing task folders are checked before anything is written, so a
    conflict never leaves a partly updated ``out_dir``; each task folder is built in a temporary
    sibling folder and renamed into place when complete.

    Args:
        out_dir (str): Root folder; gets ``coco/``, ``ade/`` and/or ``imagenet/``.
            Defaults to ``'data/demo'``.
        tasks (Iterable[str]): Any of ``'det'`` (COCO), ``'seg'`` (ADE20K) and ``'cls'``
            (ImageNet). Defaults to all three.
        seed (int): Random seed (>= 0). Defaults to 0.
        overwrite (bool): Replace existing task folders. Without it a task folder generated
            with the same settings is kept as is, and any other existing one raises
            ``FileExistsError``. Defaults to False.
        progress (bool): Show mmengine progress bars. Defaults to True.
        **sizes (int): Overrides of :data:`DEFAULT_SIZES`: ``num_train``, ``num_val`` and
            ``img_size`` apply to every selected task, ``det_num_train``, ``seg_img_size`` etc.
            to one task.

    Returns:
        dict[str, dict]: For each generated task, the result of its ``make_*_demo`` function
        (``root`` folder, ``skipped`` flag and counts).

    Raises:
        ValueError: On an unknown task, unknown size key or out-of-range number.
        FileExistsError: If a task folder exists with different content and ``overwrite`` is
            False, or ``out_dir`` is not a folder.
    """
    tasks = _normalize_tasks(tasks)
    seed = _check_int('seed', seed, 0, 2**63 - 1)
    resolved = _resolve_sizes(tasks, sizes)
    if osp.lexists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'{out_dir} exists and is not a folder')
    if not overwrite:
        for task in tasks:
            target = osp.join(out_dir, TASK_DIRS[task])
            reason = _conflict(target, _task_params(task, seed, **resolved[task]))
            if reason:
                raise FileExistsError(f'{target} already exists and differs: {reason}; '
                                      'pass --overwrite (overwrite=True) to replace it')
    created_root = not osp.exists(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    results: Dict[str, Dict[str, Any]] = {}
    try:
        for task in tasks:
            print_log(f'generating {task} demo data in {osp.join(out_dir, TASK_DIRS[task])}',
                      logger='current')
            results[task] = _MAKERS[task](
                osp.join(out_dir, TASK_DIRS[task]), seed=seed, overwrite=overwrite,
                progress=progress, **resolved[task])
    finally:
        if created_root and not os.listdir(out_dir):
            os.rmdir(out_dir)
    return results
