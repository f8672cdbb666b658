"""Plain ``forward(image) -> tensors`` modules around any OpenMMLab model.

:class:`TensorMode` is the toolboxes' ``mode='tensor'`` call as a module (what the benchmark
times and what the peers are wrapped in). Exporters and tracers need a module that maps one
normalized image batch to a fixed tuple of tensors. The export wrappers pick, per task, the part
of the model that exports without per-image meta information or post-processing (NMS, RoI ops):

- classifiers: the logits (``mode='tensor'``);
- segmentors: the decode head's logits resized to the input size (mmseg's ``mode='tensor'``
  returns them at the head's reduced resolution);
- detectors: the backbone + neck feature maps and, for single-stage detectors (SSD/SSDLite,
  RetinaNet, ...), the dense head outputs before NMS (class scores and box deltas per level).
"""
import importlib
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel

from ..utils import flatten_tensors


def _toolbox_class(module: str, name: str) -> Optional[type]:
    """A class of an optional toolbox (imported on first use), or None without the toolbox."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None


def model_task(model: nn.Module) -> str:
    """``'detection'``, ``'segmentation'`` or ``'classification'`` for an OpenMMLab model.

    Args:
        model (nn.Module): A model built from an mmdet, mmseg or mmpretrain config.

    Returns:
        str: The task.
    """
    detector = _toolbox_class('mmdet.models.detectors', 'BaseDetector')
    if detector is not None and isinstance(model, detector):
        return 'detection'
    segmentor = _toolbox_class('mmseg.models.segmentors', 'BaseSegmentor')
    if segmentor is not None and isinstance(model, segmentor):
        return 'segmentation'
    return 'classification'


class TensorMode(nn.Module):
    """An OpenMMLab model as a plain ``tensor -> tensors`` call (``mode='tensor'``).

    Detectors get one data sample per image holding the input's shape (two-stage detectors need
    it for their proposals); a bare backbone (not an mmengine ``BaseModel``) is called directly.

    Args:
        model (nn.Module): A classifier, detector, segmentor or bare backbone.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.task = model_task(model) if isinstance(model, BaseModel) else 'backbone'

    def forward(self, image: torch.Tensor):
        if self.task == 'backbone':
            return self.model(image)
        if self.task == 'detection':
            from mmdet.structures import DetDataSample
            shape = tuple(image.shape[-2:])
            samples = [
                DetDataSample(metainfo=dict(img_shape=shape, pad_shape=shape, ori_shape=shape,
                                            batch_input_shape=shape, scale_factor=(1., 1.)))
                for _ in range(image.shape[0])
            ]
            return self.model(image, samples, mode='tensor')
        return self.model(image, mode='tensor')


class ClassifierExport(TensorMode):
    """Classifier logits ``(N, num_classes)`` for a normalized image batch.

    Args:
        model (nn.Module): An mmpretrain classifier.
    """

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the exported outputs."""
        return ['logits'] if num_outputs == 1 else [f'logits{i}' for i in range(num_outputs)]

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(flatten_tensors(super().forward(image)))


class SegmentorExport(TensorMode):
    """Segmentation logits ``(N, num_classes, H, W)`` at the input size.

    The decode head's logits are resized bilinearly to the input size with the head's
    ``align_corners``, as mmseg's ``predict`` does before the argmax.

    Args:
        model (nn.Module): An mmseg segmentor.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.align_corners = bool(getattr(model, 'align_corners', False))

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the exported outputs."""
        return ['logits']

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor]:
        logits = F.interpolate(super().forward(image), size=image.shape[2:], mode='bilinear',
                               align_corners=self.align_corners)
        return (logits, )


class DetectorExport(nn.Module):
    """Feature maps of a detector, plus the dense head outputs of single-stage detectors.

    Outputs: ``feat0..featK`` (backbone, then neck when the detector has one); for single-stage
    detectors also the head's per-level outputs before NMS, ``cls_score0..``, ``bbox_pred0..``
    (and ``head_out{g}_{level}`` for heads with other output groups).

    Args:
        model (nn.Module): An mmdet detector.
        with_head (bool, optional): Export the dense head outputs. None (default) does so for
            single-stage detectors.
    """

    def __init__(self, model: nn.Module, with_head: Optional[bool] = None) -> None:
        super().__init__()
        self.model = model
        if with_head is None:
            single_stage = _toolbox_class('mmdet.models.detectors', 'SingleStageDetector')
            with_head = single_stage is not None and isinstance(model, single_stage)
        self.with_head = with_head
        self._group_sizes: Sequence[int] = ()
        self._num_feats = 0

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the exported outputs (valid after one forward)."""
        names = [f'feat{i}' for i in range(self._num_feats)]
        groups = ['cls_score', 'bbox_pred'] if len(self._group_sizes) == 2 else [
            f'head_out{g}_' for g in range(len(self._group_sizes))]
        for group, size in zip(groups, self._group_sizes):
            names += [f'{group}{level}' for level in range(size)]
        return names

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = tuple(self.model.extract_feat(image))
        outputs = list(feats)
        self._num_feats = len(feats)
        if self.with_head:
            head_outputs = self.model.bbox_head(feats)
            groups = [flatten_tensors(group) for group in head_outputs]
            self._group_sizes = [len(group) for group in groups]
            for group in groups:
                outputs += group
        return tuple(outputs)


def export_wrapper(model: nn.Module) -> nn.Module:
    """The export wrapper of ``model``'s task, in eval mode (see the module docstring).

    Args:
        model (nn.Module): A classifier, segmentor or detector in eval mode.

    Returns:
        nn.Module: A module mapping a normalized image batch to a tuple of tensors, with an
        ``output_names(num_outputs)`` method.
    """
    task = model_task(model)
    wrapper = {'detection': DetectorExport, 'segmentation': SegmentorExport,
               'classification': ClassifierExport}[task](model)
    return wrapper.eval()
