"""Single-image inference with the toolboxes' own inferencers: what ``tools/infer.py`` runs.

The config's ``default_scope`` (or, without one, the toolbox that registers the model type)
selects mmpretrain's ``ImageClassificationInferencer``, mmdet's ``DetInferencer`` or mmseg's
``MMSegInferencer``. On top of them:

- the checkpoint is loaded strictly through :func:`mmmobile.utils.checkpoints.load_weights`
  (weights-only, what the file is and the first mismatched keys named, a fused checkpoint
  pointed to its ``deploy_config.py``), so a wrong file fails in one line instead of predicting
  with half-random weights;
- class names and palette come from the checkpoint's ``dataset_meta``, else from the config's test
  dataset (its ``metainfo`` over the dataset class's ``METAINFO``), never from an unrelated
  default such as COCO or Cityscapes;
- the picture (boxes and masks, the coloured label map, or the top-k classes) is drawn by the
  toolbox's visualizer and written atomically (:func:`mmmobile.utils.io.atomic_file`); an
  existing ``out`` is replaced only with ``overwrite`` and only when it is a picture.

Works for training configs and for the ``deploy_config.py`` + ``fused.pth`` that
``tools/fuse_ckpt.py`` writes.
"""
import copy
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config

from ..engine import load_config
from ..utils import ToolError
from ..utils.checkpoints import is_local_path, load_weights
from ..utils.configs import config_errors
from ..utils.io import atomic_file, check_output_file

#: Toolbox scope -> task.
TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}

#: Picture formats ``out`` may name (what OpenCV writes).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff')


def config_task(cfg: Config) -> str:
    """``'classification'``, ``'detection'`` or ``'segmentation'`` for a config.

    The config's ``default_scope`` decides; without one, the toolbox whose registry knows the
    model type.

    Args:
        cfg (Config): The config.

    Returns:
        str: The task.

    Raises:
        ToolError: Neither tells the task.
    """
    scope = cfg.get('default_scope')
    if scope in TASKS:
        return TASKS[scope]
    model_type = (cfg.get('model') or {}).get('type')
    if isinstance(model_type, str):
        if '.' in model_type and model_type.split('.')[0] in TASKS:
            return TASKS[model_type.split('.')[0]]
        import importlib
        for toolbox, task in TASKS.items():
            try:
                registry = importlib.import_module(f'{toolbox}.registry').MODELS
            except ImportError:
                continue
            if model_type in registry.module_dict:
                return task
    raise ToolError(f'cannot tell the task of the config: default_scope {scope!r} is none of '
                    f'{sorted(TASKS)} and no toolbox registers model type {model_type!r}')


def _without_annotation_loading(cfg: Config) -> None:
    """Drop ``LoadAnnotations`` from the test pipeline (inference has no ground truth)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    dataset.pipeline = [t for t in dataset.pipeline
                        if not str(t.get('type', '')).split('.')[-1].startswith('LoadAnnotations')]


def dataset_meta(cfg: Config, checkpoint_meta: Dict[str, Any]) -> Dict[str, Any]:
    """Class names and palette for the pictures and printed predictions.

    Args:
        cfg (Config): The config (its ``test_dataloader.dataset``).
        checkpoint_meta (dict): The checkpoint's ``meta``.

    Returns:
        dict: The checkpoint's ``dataset_meta`` (keys lower-cased) when it has one, else the
        test dataset's metainfo: the ``metainfo`` of the config over the dataset class's
        ``METAINFO``. May be empty.
    """
    saved = checkpoint_meta.get('dataset_meta')
    if isinstance(saved, dict) and saved.get('classes'):
        return {k.lower(): v for k, v in saved.items()}
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset and 'metainfo' not in dataset:  # dataset wrappers
        dataset = dataset.dataset
    meta = {}
    try:
        from mmengine.registry import DATASETS
        dataset_cls = DATASETS.get(dataset.get('type'))
        meta.update(copy.deepcopy(getattr(dataset_cls, 'METAINFO', {}) or {}))
    except Exception:  # noqa: BLE001 - an unknown dataset type simply gives no names
        pass
    meta.update(copy.deepcopy(dict(dataset.get('metainfo') or {})))
    return {k.lower(): v for k, v in meta.items()}


def _is_picture(path: str) -> bool:
    """Whether an existing ``out`` may be replaced: a file with a picture suffix that decodes."""
    import mmcv
    return osp.splitext(path)[1].lower() in IMAGE_SUFFIXES and mmcv.imread(path) is not None


def _check_output(out: Optional[str], overwrite: bool) -> None:
    if out is None:
        return
    if osp.splitext(out)[1].lower() not in IMAGE_SUFFIXES:
        raise ToolError(f'--out must name a picture ({", ".join(IMAGE_SUFFIXES)}): {out}',
                        exit_code=2)
    try:
        check_output_file(out, overwrite, is_ours=_is_picture)
    except ToolError as error:
        raise ToolError(str(error), exit_code=2) from None


def write_image(rgb: np.ndarray, out: str) -> None:
    """Write an RGB picture to ``out`` atomically; the suffix of ``out`` selects the format.

    Args:
        rgb (np.ndarray): ``(H, W, 3)`` uint8 picture in RGB order.
        out (str): Destination.
    """
    import cv2
    ok, data = cv2.imencode(osp.splitext(out)[1], np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ToolError(f'could not encode the picture for {out}')
    with atomic_file(out) as tmp_path:
        with open(tmp_path, 'wb') as f:
            f.write(data.tobytes())


def _class_name(classes: Optional[List[str]], label: int) -> Optional[str]:
    return str(classes[label]) if classes is not None and 0 <= label < len(classes) else None


def _load(model, cfg: Config, checkpoint: str, trusted: bool) -> Dict[str, Any]:
    """Load ``checkpoint`` strictly into the inferencer's model; return its ``meta``."""
    return load_weights(model, checkpoint, trusted=trusted, model_cfg=cfg.model,
                        scope=cfg.get('default_scope'), config_name=cfg.filename)


def _classify(cfg: Config, checkpoint: str, image: str, device: str, trusted: bool,
              topk: int, draw: bool) -> Dict[str, Any]:
    from mmpretrain.apis import ImageClassificationInferencer

    inferencer = ImageClassificationInferencer(model=cfg, pretrained=False, device=device)
    meta = _load(inferencer.model, cfg, checkpoint, trusted)
    classes = dataset_meta(cfg, meta).get('classes') or inferencer.classes
    inferencer.classes = classes
    sample = inferencer(image, return_datasamples=True)[0]
    scores, labels = sample.pred_score.topk(min(topk, sample.pred_score.numel()))
    predictions = [dict(label=int(label), score=float(score),
                        name=_class_name(classes, int(label)))
                   for score, label in zip(scores.tolist(), labels.tolist())]
    picture = None
    if draw:
        import mmcv
        from mmpretrain.visualization import UniversalVisualizer
        top = sample.clone()
        top.set_pred_label(labels)  # the visualizer writes one line per predicted label
        rgb = mmcv.imread(image)[..., ::-1]
        short_edge = min(rgb.shape[:2])
        if inferencer.visualizer is None:  # what the inferencer's own visualize() does
            inferencer.visualizer = UniversalVisualizer()
        picture = inferencer.visualizer.visualize_cls(
            np.ascontiguousarray(rgb), top, classes=classes, draw_gt=False,
            resize=256 if short_edge < 256 else None)
    return dict(predictions=predictions, picture=picture)


def _detect(cfg: Config, checkpoint: str, image: str, device: str, trusted: bool,
            score_thr: float, draw: bool) -> Dict[str, Any]:
    from mmdet.apis import DetInferencer

    _without_annotation_loading(cfg)
    with warnings.catch_warnings():  # "weights is None, use COCO classes": set below
        warnings.simplefilter('ignore')
        inferencer = DetInferencer(model=cfg, weights=None, device=device, show_progress=False)
    meta = _load(inferencer.model, cfg, checkpoint, trusted)
    names = dataset_meta(cfg, meta)
    if names.get('classes'):
        names.setdefault('palette', inferencer.model.dataset_meta.get('palette', 'random'))
        inferencer.model.dataset_meta = names
        inferencer.visualizer.dataset_meta = names
    classes = inferencer.model.dataset_meta.get('classes')
    result = inferencer(image, return_vis=draw, return_datasamples=True,
                        pred_score_thr=score_thr, no_save_vis=True)
    instances = result['predictions'][0].pred_instances
    keep = instances.scores >= score_thr
    masks = instances.get('masks')
    predictions = []
    for index in torch.nonzero(keep).flatten().tolist():
        label = int(instances.labels[index])
        entry = dict(label=label, score=float(instances.scores[index]),
                     name=_class_name(classes, label),
                     box=[round(float(v), 1) for v in instances.bboxes[index]])
        if masks is not None:
            entry['mask_pixels'] = int(masks[index].sum())
        predictions.append(entry)
    picture = result['visualization'][0] if draw else None
    return dict(predictions=predictions, picture=picture, num_candidates=int(len(instances)))


def _segment(cfg: Config, checkpoint: str, image: str, device: str, trusted: bool,
             draw: bool) -> Dict[str, Any]:
    from mmseg.apis import MMSegInferencer

    with warnings.catch_warnings():  # "weights is None, use cityscapes classes": set below
        warnings.simplefilter('ignore')
        inferencer = MMSegInferencer(model=cfg, weights=None, device=device)
    inferencer.show_progress = False
    meta = _load(inferencer.model, cfg, checkpoint, trusted)
    names = dataset_meta(cfg, meta)
    if names.get('classes'):
        # MMSegInferencer passes dataset_meta to SegLocalVisualizer.set_dataset_meta
        inferencer.model.dataset_meta = dict(classes=names['classes'],
                                             palette=names.get('palette'))
    classes = inferencer.model.dataset_meta.get('classes')
    result = inferencer(image, return_vis=draw)  # one image: the label map and picture unlisted
    label_map = np.asarray(result['predictions'])
    labels, counts = np.unique(label_map, return_counts=True)
    order = np.argsort(-counts, kind='stable')
    predictions = [dict(label=int(labels[i]), name=_class_name(classes, int(labels[i])),
                        fraction=float(counts[i]) / label_map.size) for i in order]
    picture = result['visualization'] if draw else None
    return dict(predictions=predictions, picture=picture, shape=list(label_map.shape))


def infer(config: str,
          checkpoint: str,
          image: str,
          out: Optional[str] = None,
          device: Optional[str] = None,
          topk: int = 5,
          score_thr: float = 0.3,
          overwrite: bool = False,
          cfg_options: Optional[Dict[str, Any]] = None,
          trust_checkpoint: bool = False) -> Dict[str, Any]:
    """Predict one image with a classifier, detector or segmentor config and checkpoint.

    Args:
        config (str): Config file (a training config or a ``deploy_config.py``).
        checkpoint (str): Checkpoint (path or URL) that loads strictly into the config's model.
        image (str): Image file.
        out (str, optional): Picture to write: the top-``topk`` classes, the boxes and masks
            above ``score_thr``, or the label map drawn over the image. Defaults to None.
        device (str, optional): ``'cpu'``, ``'cuda'``, ...; by default CUDA when available.
        topk (int): Classes reported for a classifier. Defaults to 5.
        score_thr (float): Lowest detection score reported and drawn. Defaults to 0.3.
        overwrite (bool): Replace an existing ``out``. Defaults to False.
        cfg_options (dict, optional): Overrides merged into the config.
        trust_checkpoint (bool): Load a checkpoint holding pickled objects (only for files you
            trust). Defaults to False.

    Returns:
        dict: ``task``, ``image``, ``out`` (None without a picture) and ``predictions``: a list of
        dicts with ``label``, ``name`` (None without class names) and ``score`` (classes, best
        first), ``score``, ``box`` (x1, y1, x2, y2 in image pixels) and ``mask_pixels``
        (instance segmentation) per detection, or ``fraction`` of the pixels per label
        (segmentation, largest first); detections also give ``num_candidates`` (before the score
        threshold), segmentation the label map ``shape``.

    Raises:
        ToolError: A missing or unreadable file, a checkpoint that does not fit the config, a bad
            option, or an ``out`` that exists without ``overwrite``.
        UnsafeCheckpointError: The checkpoint holds pickled objects and is not trusted.
    """
    if topk < 1:
        raise ToolError(f'topk must be at least 1, got {topk}', exit_code=2)
    if not 0 <= score_thr <= 1:
        raise ToolError(f'score_thr must be in [0, 1], got {score_thr}', exit_code=2)
    _check_output(out, overwrite)
    if not osp.isfile(image):
        raise ToolError(f'image not found: {image}', exit_code=2)
    import mmcv
    if mmcv.imread(image) is None:
        raise ToolError(f'not a readable image: {image}')
    if is_local_path(checkpoint) and not osp.isfile(checkpoint):
        raise ToolError(f'checkpoint not found: {checkpoint}', exit_code=2)
    cfg = load_config(config, cfg_options)
    task = config_task(cfg)
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    draw = out is not None
    with config_errors(cfg):  # a misspelled keyword or unknown type: one line
        if task == 'classification':
            result = _classify(cfg, checkpoint, image, device, trust_checkpoint, topk, draw)
        elif task == 'detection':
            result = _detect(cfg, checkpoint, image, device, trust_checkpoint, score_thr, draw)
        else:
            result = _segment(cfg, checkpoint, image, device, trust_checkpoint, draw)
    picture = result.pop('picture')
    if draw:
        write_image(picture, out)
    return dict(task=task, image=image, out=out, **result)


def summary_lines(result: Dict[str, Any]) -> List[str]:
    """The predictions of :func:`infer` as lines for the terminal.

    Args:
        result (dict): What :func:`infer` returned.

    Returns:
        list[str]: One header line, then one line per class / detection / label.
    """

    def name(entry):
        return f"{entry['name']} (label {entry['label']})" if entry['name'] is not None \
            else f"label {entry['label']}"

    predictions = result['predictions']
    if result['task'] == 'classification':
        lines = [f"{result['image']}: top-{len(predictions)} classes"]
        lines += [f"  {rank}. {entry['score']:.4f}  {name(entry)}"
                  for rank, entry in enumerate(predictions, 1)]
    elif result['task'] == 'detection':
        lines = [f"{result['image']}: {len(predictions)} detection(s) above the score threshold "
                 f"(of {result['num_candidates']})"]
        for entry in predictions:
            box = ', '.join(f'{v:.1f}' for v in entry['box'])
            mask = f"  mask {entry['mask_pixels']} px" if 'mask_pixels' in entry else ''
            lines.append(f"  {entry['score']:.3f}  {name(entry)}  box [{box}]{mask}")
    else:
        height, width = result['shape']
        lines = [f"{result['image']}: label map {height}x{width}, {len(predictions)} label(s)"]
        lines += [f"  {100 * entry['fraction']:5.1f}%  {name(entry)}" for entry in predictions]
    if result['out']:
        lines.append(f"wrote {result['out']}")
    return lines
