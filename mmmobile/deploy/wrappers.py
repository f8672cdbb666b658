"""Export wrappers: a plain ``forward(image) -> tensors`` module around any OpenMMLab model.

Exporters and tracers need a module that maps one normalized image batch to a fixed tuple of
tensors. The wrappers pick, per task, the part of the model that exports without per-image meta
information or post-processing (NMS, RoI ops):

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


def _as_tensor_list(outputs) -> List[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return [o for o in outputs if isinstance(o, torch.Tensor)]


class ClassifierExport(nn.Module):
    """Classifier logits ``(N, num_classes)`` for a normalized image batch.

    Args:
        model (nn.Module): An mmpretrain classifier.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the exported outputs."""
        return ['logits'] if num_outputs == 1 else [f'logits{i}' for i in range(num_outputs)]

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(_as_tensor_list(self.model(image, mode='tensor')))


class SegmentorExport(nn.Module):
    """Segmentation logits ``(N, num_classes, H, W)`` at the input size.

    The decode head's logits are resized bilinearly to the input size with the head's
    ``align_corners``, as mmseg's ``predict`` does before the argmax.

    Args:
        model (nn.Module): An mmseg segmentor.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.align_corners = bool(getattr(model, 'align_corners', False))

    def output_names(self, num_outputs: int) -> List[str]:
        """Names of the exported outputs."""
        return ['logits']

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor]:
        logits = self.model(image, mode='tensor')
        logits = F.interpolate(logits, size=image.shape[2:], mode='bilinear',
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
            groups = [_as_tensor_list(group) for group in head_outputs]
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
