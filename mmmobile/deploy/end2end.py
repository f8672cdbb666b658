"""End-to-end export wrappers: a normalized image batch in, detections or a label map out.

The wrappers here run mmdet's own modules (anchor generators, box coders, the RPN, RoI
extractors' level mapping, box and mask heads) on the traced path and replace only what has no
ONNX export in mmcv 2.1.0: NMS becomes ``torchvision.ops.nms`` (ONNX ``NonMaxSuppression``) and
RoIAlign ``torchvision.ops.roi_align(aligned=True)`` (ONNX ``RoiAlign``). The post-processing
reproduces mmdet's ``predict`` (``rescale=False``) step by step, with every data-dependent size
kept as a tensor so the traced graph stays valid for other inputs:

- dense heads (``BaseDenseHead._predict_by_feat_single``): per level the top ``nms_pre``
  (anchor, class) scores, those above ``score_thr``, decoded and clipped to the input, boxes no
  larger than ``min_bbox_size`` dropped, class-aware NMS (``batched_nms``), the best
  ``max_per_img``;
- the RPN (``RPNHead``): per level the top ``nms_pre`` anchors, NMS per level, the best
  ``max_per_img`` proposals;
- RoI heads (``StandardRoIHead`` / ``CascadeRoIHead``): RoI features per FPN level from
  ``SingleRoIExtractor.map_roi_levels``, box head, per-class decoding, ``multiclass_nms``
  (cascade: stage-wise refinement by ``regress_by_class`` and the mean of the stages' scores);
  the mask head on the final boxes, the sigmoid of each box's class channel (cascade: the mean
  over the stages).

Outputs follow mmdeploy's convention: ``dets`` ``(N, K, 5)`` = x1, y1, x2, y2, score in input
pixels, ``labels`` ``(N, K)`` and, for instance segmentation, ``masks`` ``(N, K, M, M)`` (the RoI
mask probabilities; to paste, see :func:`paste_roi_masks`) or, with ``paste_masks=True``, the
binary masks pasted into the input ``(N, K, H, W)``. ``K`` is the config's ``max_per_img``; the
slots after an image's last detection are padded as :data:`PADDING` says. Images of a batch are
processed together (NMS keeps them apart by an offset), so the batch axis stays dynamic.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .export import ExportError

#: What ``parts`` can export per task; the first is the default.
PARTS = {
    'detection': ('detections', 'features'),
    'segmentation': ('logits', 'labels'),
    'classification': ('logits', ),
}

#: How the slots after an image's last detection are filled.
PADDING = dict(dets=0.0, labels=-1, masks=0.0,
               description='slots after the last detection of an image have label -1 and '
               'dets (and masks) all 0; detections are sorted by descending score')

_SCORE_PAD = -1.0  # sorts after every real score (all scores are probabilities)


def _image_size(image: torch.Tensor) -> torch.Tensor:
    """``[H, W]`` of a batch as a tensor (a traced value, not a constant, under tracing)."""
    from torch.onnx.operators import shape_as_tensor
    return shape_as_tensor(image)[2:]


def _topk_count(k: int, size) -> torch.Tensor:
    """``min(k, size)`` for ``topk``, computed on tensors so the traced graph keeps it dynamic."""
    return torch.clamp(torch.as_tensor(size), max=k)


def clip_boxes(boxes: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Clip ``(..., 4)`` x1, y1, x2, y2 boxes to ``[0, W] x [0, H]`` (``size`` = ``[H, W]``)."""
    bound = size.flip(0).repeat(2).to(boxes.dtype)
    return torch.minimum(boxes.clamp(min=0), bound)


def _decode(coder, priors: torch.Tensor, deltas: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """``coder.decode`` on flattened boxes, clipped to the input when the coder clips.

    mmdet's coders clip with Python sizes (and, during ONNX export, call an mmdet 2.x helper
    that 3.x no longer has), so the clip is done here on tensors, as ``delta2bbox`` does it.
    """
    boxes = coder.decode(priors.reshape(-1, 4), deltas.reshape(-1, deltas.shape[-1]),
                         max_shape=None)
    if hasattr(boxes, 'tensor'):  # mmdet box types
        boxes = boxes.tensor
    boxes = boxes.reshape_as(priors)
    return clip_boxes(boxes, size) if getattr(coder, 'clip_border', True) else boxes


def _large_enough(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """mmdet's ``min_bbox_size`` filter: width and height above ``min_size``."""
    return ((boxes[..., 2] - boxes[..., 0]) > min_size) & ((boxes[..., 3] - boxes[..., 1])
                                                          > min_size)


def _nms_threshold(nms_cfg, part: str) -> Tuple[float, bool]:
    """IoU threshold and class-agnosticism of an mmdet ``nms`` config; other kinds refused."""
    nms_type = nms_cfg.get('type', 'nms')
    if nms_type != 'nms':
        raise ExportError(f'end-to-end export: the {part} uses {nms_type} (mmcv.ops.'
                          f'{nms_type}), which has no ONNX operator; only hard NMS (type=nms) '
                          'maps to NonMaxSuppression')
    return float(nms_cfg['iou_threshold']), bool(nms_cfg.get('class_agnostic', False))


def padded_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
               valid: torch.Tensor, iou_threshold: float, max_num: int,
               num_groups: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mmcv's ``batched_nms`` for a batch, then the ``max_num`` best boxes of each image.

    Boxes of different images or groups (classes, RPN levels) never suppress each other: as in
    mmcv, each (image, group) is shifted by ``(max coordinate + 1)`` before one
    ``torchvision.ops.nms`` (ONNX ``NonMaxSuppression``) over the valid candidates.

    Args:
        boxes (Tensor): ``(N, M, 4)`` candidates, x1, y1, x2, y2.
        scores (Tensor): ``(N, M)`` scores.
        groups (Tensor): ``(N, M)`` integer group of each candidate in ``[0, num_groups)``.
        valid (Tensor): ``(N, M)`` bool, candidates that take part.
        iou_threshold (float): Boxes overlapping a better one by more are dropped.
        max_num (int): Boxes kept per image (``K``).
        num_groups (int): Number of groups (1 for class-agnostic NMS).

    Returns:
        tuple: ``dets`` ``(N, K, 5)``, ``groups`` ``(N, K)``, ``index`` ``(N, K)`` (position of
        each kept box among the ``M`` candidates) and ``kept`` ``(N, K)`` bool; slots without a
        box have ``kept`` False, zero dets, group -1 and index 0.
    """
    from torchvision.ops import nms

    batch, count = scores.shape[0], scores.shape[1]
    # K spare candidates so that topk(K) below always has enough entries.
    boxes = torch.cat([boxes, boxes.new_zeros(batch, max_num, 4)], dim=1)
    scores = torch.cat([scores, scores.new_zeros(batch, max_num)], dim=1)
    groups = torch.cat([groups, groups.new_zeros(batch, max_num)], dim=1)
    valid = torch.cat([valid, valid.new_zeros(batch, max_num)], dim=1)

    flat_valid = valid.reshape(-1)
    flat_boxes = boxes.reshape(-1, 4)
    candidates = flat_valid.nonzero().squeeze(1)
    chosen_boxes = flat_boxes[candidates]
    max_coordinate = torch.where(flat_valid[:, None], flat_boxes,
                                 flat_boxes.new_zeros(())).max()
    image = torch.arange(batch, device=boxes.device).view(-1, 1).expand_as(groups)
    offsets = (image * num_groups + groups).reshape(-1)[candidates].to(boxes.dtype)
    shifted = chosen_boxes + (offsets * (max_coordinate + 1))[:, None]
    keep = candidates[nms(shifted, scores.reshape(-1)[candidates], iou_threshold)]

    survived = torch.zeros_like(flat_valid).scatter(0, keep,
                                                    torch.ones_like(keep, dtype=torch.bool))
    survived = survived.view_as(valid)
    ranked = torch.where(survived, scores, scores.new_full((), _SCORE_PAD))
    top_scores, index = ranked.topk(max_num, dim=1)
    kept = survived.gather(1, index)
    top_boxes = boxes.gather(1, index[..., None].expand(-1, -1, 4))
    dets = torch.cat([top_boxes, top_scores[..., None]], dim=-1)
    dets = torch.where(kept[..., None], dets, dets.new_zeros(()))
    top_groups = torch.where(kept, groups.gather(1, index), groups.new_full((), -1))
    index = torch.where(kept & (index < count), index, index.new_zeros(()))
    return dets, top_groups, index, kept


def output_difference(actual: Sequence, expected: Sequence[torch.Tensor]) -> float:
    """The largest difference over paired outputs: the relative error of float outputs and,
    for bool and integer outputs (masks pasted in the graph, label maps), the fraction of
    differing elements, since values within float error of a threshold or of a tie may land on
    either side (inf when the counts or shapes differ)."""
    from ..utils import relative_error
    if len(actual) != len(expected):
        return float('inf')
    worst = 0.0
    for got, want in zip(actual, expected):
        got, want = torch.as_tensor(got), torch.as_tensor(want)
        if got.shape != want.shape:
            return float('inf')
        if not want.is_floating_point():
            worst = max(worst, (got != want).double().mean().item() if want.numel() else 0.0)
        else:
            worst = max(worst, relative_error(got, want))
    return worst


#: Share of the detections that must agree between two runs of an end-to-end detector graph.
MIN_MATCHED = 0.9


def match_detections(actual: Sequence, expected: Sequence[torch.Tensor]) -> Dict:
    """Pair the detections of two runs of an end-to-end graph (``dets``, ``labels``[, ``masks``]).

    Float rounding between runtimes reorders near-tied scores: at the ``nms_pre`` / ``K`` cuts
    and in NMS a detection of one run can be missing from the other. Detections are therefore
    paired per image (same label, box within 1e-3 of the image's coordinate range, score within
    1e-3), greedily in ``expected``'s order, and the paired ones compared.

    Returns:
        dict: ``matched`` (share of the detections of either side that are paired),
        ``relative_error`` (of the paired dets and masks; inf without pairs or when the outputs
        do not have the same layout) and ``count`` (detections of ``expected``).
    """
    from ..utils import relative_error
    if len(actual) != len(expected):
        return dict(matched=0.0, relative_error=float('inf'), count=0)
    actual = [torch.as_tensor(a) for a in actual]
    if any(a.shape != e.shape for a, e in zip(actual, expected)):
        return dict(matched=0.0, relative_error=float('inf'), count=0)
    pairs_a, pairs_e, union, count = [], [], 0, 0
    for image in range(expected[0].shape[0]):
        got = (actual[1][image] >= 0).nonzero().squeeze(1)
        want = (expected[1][image] >= 0).nonzero().squeeze(1)
        union += max(len(got), len(want))
        count += len(want)
        if not len(got) or not len(want):
            continue
        dets_a, dets_e = actual[0][image][got].double(), expected[0][image][want].double()
        scale = max(1.0, dets_e[:, :4].abs().max().item())
        close = ((actual[1][image][got][:, None] == expected[1][image][want][None])
                 & ((dets_a[:, None, :4] - dets_e[None, :, :4]).abs().amax(-1) <= 1e-3 * scale)
                 & ((dets_a[:, None, 4] - dets_e[None, :, 4]).abs() <= 1e-3))
        used = set()
        for j in range(len(want)):
            for i in close[:, j].nonzero().squeeze(1).tolist():
                if i not in used:
                    used.add(i)
                    pairs_a.append((image, int(got[i])))
                    pairs_e.append((image, int(want[j])))
                    break
    if not union:
        return dict(matched=1.0, relative_error=0.0, count=0)
    if not pairs_e:
        return dict(matched=0.0, relative_error=float('inf'), count=count)
    rows_a, rows_e = tuple(torch.tensor(pairs_a).T), tuple(torch.tensor(pairs_e).T)
    error = relative_error(actual[0][rows_a], expected[0][rows_e])
    if len(expected) > 2:  # masks: pasted (bool) ones as in output_difference
        error = max(error, output_difference([actual[2][rows_a]], [expected[2][rows_e]]))
    return dict(matched=len(pairs_e) / union, relative_error=error, count=count)


def detection_difference(actual: Sequence, expected: Sequence[torch.Tensor]) -> float:
    """:func:`match_detections` as one number: the paired detections' relative error when at
    least :data:`MIN_MATCHED` of them pair up, else the share that does not (>= 0.1)."""
    result = match_detections(actual, expected)
    if result['matched'] < MIN_MATCHED:
        return 1.0 - result['matched']
    return result['relative_error']


def _levels_scores(head, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                   num_scores: int) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Per level: scores ``(N, A, num_scores)`` (sigmoid, or softmax without background) and
    box deltas ``(N, A, encode_size)``, in mmdet's anchor order."""
    scores, deltas = [], []
    dim = head.bbox_coder.encode_size

    def per_prior(tensor: torch.Tensor, width: int) -> torch.Tensor:
        # (N, A * width, H, W) -> (N, H * W * A, width)
        return tensor.permute(0, 2, 3, 1).reshape(tensor.shape[0], -1, width)

    for cls_score, bbox_pred in zip(cls_scores, bbox_preds):
        logits = per_prior(cls_score, head.cls_out_channels)
        if head.use_sigmoid_cls:
            level_scores = logits.sigmoid()
        else:
            level_scores = logits.softmax(-1)[..., :-1]
        scores.append(level_scores)
        deltas.append(per_prior(bbox_pred, dim))
    return scores, deltas


def _gather_rows(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tensor[n, index[n, k]]`` for ``(N, A, D)`` tensors and ``(N, k)`` indices."""
    return tensor.gather(1, index[..., None].expand(-1, -1, tensor.shape[-1]))


def dense_head_detections(head, cls_scores: Sequence[torch.Tensor],
                          bbox_preds: Sequence[torch.Tensor], size: torch.Tensor, cfg,
                          max_num: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Detections of a single-stage dense head (RetinaNet, SSD, ...), as its ``predict``.

    Args:
        head: The mmdet dense head (``prior_generator``, ``bbox_coder``, ``test_cfg``).
        cls_scores (Sequence[Tensor]): Per level ``(N, A * cls_out_channels, H, W)``.
        bbox_preds (Sequence[Tensor]): Per level ``(N, A * encode_size, H, W)``.
        size (Tensor): Input ``[H, W]``.
        cfg: The head's ``test_cfg``.
        max_num (int): ``K``.

    Returns:
        tuple: ``dets`` ``(N, K, 5)``, ``labels`` ``(N, K)``, ``kept`` ``(N, K)``.
    """
    num_classes = head.num_classes
    priors = head.prior_generator.grid_priors(
        [c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
        device=cls_scores[0].device)
    nms_pre, score_thr = cfg.get('nms_pre', -1), cfg.get('score_thr', 0)
    level_scores, level_deltas = _levels_scores(head, cls_scores, bbox_preds, num_classes)
    all_scores, all_labels, all_deltas, all_priors = [], [], [], []
    for scores, deltas, level_priors in zip(level_scores, level_deltas, priors):
        if hasattr(level_priors, 'tensor'):
            level_priors = level_priors.tensor
        flat = scores.reshape(scores.shape[0], -1)
        if nms_pre > 0:
            flat, index = flat.topk(_topk_count(nms_pre, flat.shape[1]), dim=1)
        else:
            index = torch.arange(flat.shape[1], device=flat.device).expand_as(flat)
        anchor = torch.div(index, num_classes, rounding_mode='floor')
        all_scores.append(flat)
        all_labels.append(index % num_classes)
        all_deltas.append(_gather_rows(deltas, anchor))
        all_priors.append(level_priors[anchor])
    scores, labels = torch.cat(all_scores, 1), torch.cat(all_labels, 1)
    boxes = _decode(head.bbox_coder, torch.cat(all_priors, 1), torch.cat(all_deltas, 1), size)
    valid = scores > score_thr
    if cfg.get('min_bbox_size', -1) >= 0:
        valid = valid & _large_enough(boxes, cfg['min_bbox_size'])
    iou, agnostic = _nms_threshold(cfg['nms'], f'{type(head).__name__} post-processing')
    groups = torch.zeros_like(labels) if agnostic else labels
    dets, _, index, kept = padded_nms(boxes, scores, groups, valid, iou, max_num,
                                      1 if agnostic else num_classes)
    labels = torch.where(kept, labels.gather(1, index), labels.new_full((), -1))
    return dets, labels, kept


def rpn_proposals(head, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                  size: torch.Tensor, cfg) -> Tuple[torch.Tensor, torch.Tensor]:
    """Proposals of mmdet's ``RPNHead``: per-level top-k, per-level NMS, the best ``max_per_img``.

    Returns:
        tuple: ``boxes`` ``(N, P, 4)`` and ``kept`` ``(N, P)`` (False for padded slots), ``P``
        = ``cfg.max_per_img``.
    """
    priors = head.prior_generator.grid_priors(
        [c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
        device=cls_scores[0].device)
    nms_pre = cfg.get('nms_pre', -1)
    level_scores, level_deltas = _levels_scores(head, cls_scores, bbox_preds, 1)
    all_scores, all_levels, all_deltas, all_priors = [], [], [], []
    for level, (scores, deltas, level_priors) in enumerate(
            zip(level_scores, level_deltas, priors)):
        if hasattr(level_priors, 'tensor'):
            level_priors = level_priors.tensor
        scores = scores[..., 0]
        if nms_pre > 0:
            scores, index = scores.topk(_topk_count(nms_pre, scores.shape[1]), dim=1)
            deltas, level_priors = _gather_rows(deltas, index), level_priors[index]
        else:
            level_priors = level_priors.expand(scores.shape[0], -1, -1)
        all_scores.append(scores)
        all_levels.append(torch.full_like(scores, level, dtype=torch.long))
        all_deltas.append(deltas)
        all_priors.append(level_priors)
    scores = torch.cat(all_scores, 1)
    boxes = _decode(head.bbox_coder, torch.cat(all_priors, 1), torch.cat(all_deltas, 1), size)
    valid = torch.ones_like(scores, dtype=torch.bool)
    if cfg.get('min_bbox_size', -1) >= 0:
        valid = _large_enough(boxes, cfg['min_bbox_size'])
    iou, _ = _nms_threshold(cfg['nms'], 'RPN')
    dets, _, _, kept = padded_nms(boxes, scores, torch.cat(all_levels, 1), valid, iou,
                                  cfg['max_per_img'], len(level_scores))
    return dets[..., :4], kept


def roi_features(extractor, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
    """mmdet's ``SingleRoIExtractor.forward`` with torchvision's ``roi_align`` per level.

    Each RoI is pooled from the level ``extractor.map_roi_levels`` assigns it, with the level's
    mmcv ``RoIAlign`` settings (output size, spatial scale, sampling ratio, ``aligned``).
    """
    from torchvision.ops import roi_align

    feats = feats[:extractor.num_inputs]
    layers = extractor.roi_layers

    def pool(layer, feat, boxes):
        return roi_align(feat, boxes, layer.output_size, layer.spatial_scale,
                         layer.sampling_ratio, layer.aligned)

    if len(feats) == 1:
        return pool(layers[0], feats[0], rois)
    levels = extractor.map_roi_levels(rois, len(feats))
    out = rois.new_zeros(rois.shape[0], extractor.out_channels, *layers[0].output_size)
    for level, (layer, feat) in enumerate(zip(layers, feats)):
        index = (levels == level).nonzero().squeeze(1)
        pooled = pool(layer, feat, rois[index])
        # scatter, not index assignment: the exporter fixes the latter's shape at trace time.
        out = out.scatter(0, index.view(-1, 1, 1, 1).expand_as(pooled), pooled)
    return out


def _rois(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, P, 4)`` boxes as ``(N * P, 5)`` RoIs with the image index first (``bbox2roi``)."""
    image = torch.arange(boxes.shape[0], device=boxes.device, dtype=boxes.dtype)
    image = image.view(-1, 1, 1).expand(-1, boxes.shape[1], 1)
    return torch.cat([image, boxes], dim=-1).reshape(-1, 5)


def _class_boxes(bbox_head, rois: torch.Tensor, bbox_pred: torch.Tensor,
                 size: torch.Tensor) -> torch.Tensor:
    """Per-class boxes ``(R, C, 4)`` of a box head (``BBoxHead._predict_by_feat_single``)."""
    num_classes = bbox_head.num_classes
    num_reg = 1 if bbox_head.reg_class_agnostic else num_classes
    dim = bbox_head.bbox_coder.encode_size
    priors = rois[:, None, 1:].expand(-1, num_reg, 4)
    boxes = _decode(bbox_head.bbox_coder, priors, bbox_pred.reshape(-1, num_reg, dim), size)
    return boxes.expand(-1, num_classes, 4)


def rcnn_detections(bbox_head, rois: torch.Tensor, cls_score: torch.Tensor,
                    bbox_pred: torch.Tensor, proposal_kept: torch.Tensor, size: torch.Tensor,
                    cfg) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``multiclass_nms`` of a box head's scores and per-class boxes.

    Returns:
        tuple: ``dets`` ``(N, K, 5)``, ``labels`` ``(N, K)``, ``kept`` ``(N, K)``.
    """
    batch, num_proposals = proposal_kept.shape[0], proposal_kept.shape[1]
    num_classes = bbox_head.num_classes
    scores = F.softmax(cls_score, dim=-1)[:, :num_classes]
    boxes = _class_boxes(bbox_head, rois, bbox_pred, size)
    boxes = boxes.reshape(batch, -1, 4)
    scores = scores.reshape(batch, -1)
    labels = torch.arange(num_classes, device=scores.device).repeat(num_proposals)
    labels = labels.expand(batch, -1)
    valid = (scores > cfg['score_thr']) & proposal_kept.repeat_interleave(num_classes, dim=1)
    iou, agnostic = _nms_threshold(cfg['nms'], 'RoI head')
    groups = torch.zeros_like(labels) if agnostic else labels
    dets, _, index, kept = padded_nms(boxes, scores, groups, valid, iou, cfg['max_per_img'],
                                      1 if agnostic else num_classes)
    labels = torch.where(kept, labels.gather(1, index), labels.new_full((), -1))
    return dets, labels, kept


def paste_roi_masks(masks: torch.Tensor, boxes: torch.Tensor, height, width,
                threshold: float = 0.5) -> torch.Tensor:
    """Paste RoI mask probabilities into images with mmdet's ``_do_paste_mask``.

    Args:
        masks (Tensor): ``(K, M, M)`` probabilities.
        boxes (Tensor): ``(K, 4)`` boxes in the target image's pixels.
        height, width: The target image size.
        threshold (float): Binarization threshold (``test_cfg.rcnn.mask_thr_binary``).

    Returns:
        Tensor: ``(K, height, width)`` bool masks.
    """
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
    pasted, _ = _do_paste_mask(masks[:, None], boxes, height, width, skip_empty=False)
    return pasted >= threshold


class SingleStageEnd2End(nn.Module):
    """Image batch -> ``dets``, ``labels`` for mmdet's single-stage detectors (dense heads).

    Args:
        model (nn.Module): A ``SingleStageDetector`` whose head predicts class scores and box
            deltas per anchor (RetinaNet, SSD/SSDLite, ...).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.bbox_head.test_cfg

    def output_names(self, num_outputs: int = 2) -> List[str]:
        """Names of the exported outputs."""
        return ['dets', 'labels']

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        head = self.model.bbox_head
        outputs = head(self.model.extract_feat(image))
        if len(outputs) != 2:
            raise ExportError(f'end-to-end export: the dense head {type(head).__name__} '
                              f'returns {len(outputs)} output groups (score factors?); only '
                              'heads with class scores and box deltas export')
        cls_scores, bbox_preds = outputs
        dets, labels, _ = dense_head_detections(head, cls_scores, bbox_preds,
                                                _image_size(image), self.cfg,
                                                self.cfg['max_per_img'])
        return dets, labels


class TwoStageEnd2End(nn.Module):
    """Image batch -> ``dets``, ``labels`` (and ``masks``) for Faster/Mask/Cascade R-CNN.

    Args:
        model (nn.Module): A ``TwoStageDetector`` with an ``RPNHead`` and a ``StandardRoIHead``
            or ``CascadeRoIHead``.
        paste_masks (bool): Output the binary masks pasted into the input ``(N, K, H, W)``
            instead of the RoI mask probabilities ``(N, K, M, M)``. Defaults to False.
    """

    def __init__(self, model: nn.Module, paste_masks: bool = False) -> None:
        super().__init__()
        self.model = model
        self.paste_masks = paste_masks
        roi_head = model.roi_head
        self.cascade = hasattr(roi_head, 'num_stages')
        self.with_mask = bool(getattr(roi_head, 'with_mask', False))

    def output_names(self, num_outputs: int = 3) -> List[str]:
        """Names of the exported outputs."""
        return ['dets', 'labels', 'masks'] if self.with_mask else ['dets', 'labels']

    def _stages(self, name: str) -> list:
        module = getattr(self.model.roi_head, name)
        return list(module) if self.cascade else [module]

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model, roi_head = self.model, self.model.roi_head
        size = _image_size(image)
        feats = model.extract_feat(image)
        rpn_cls, rpn_reg = model.rpn_head(feats)
        proposals, proposal_kept = rpn_proposals(model.rpn_head, rpn_cls, rpn_reg, size,
                                                 model.rpn_head.test_cfg)
        rois = _rois(proposals)
        extractors, bbox_heads = self._stages('bbox_roi_extractor'), self._stages('bbox_head')
        stage_scores = []
        for stage, (extractor, bbox_head) in enumerate(zip(extractors, bbox_heads)):
            cls_score, bbox_pred = bbox_head(roi_features(extractor, feats, rois))
            stage_scores.append(cls_score)
            if stage < len(bbox_heads) - 1:
                label = cls_score[:, :-1].argmax(dim=1)
                refined = bbox_head.regress_by_class(rois[:, 1:], label, bbox_pred,
                                                     dict(img_shape=None))
                if hasattr(refined, 'tensor'):
                    refined = refined.tensor
                if getattr(bbox_head.bbox_coder, 'clip_border', True):
                    refined = clip_boxes(refined, size)
                rois = torch.cat([rois[:, :1], refined], dim=1)
        cls_score = sum(stage_scores) / len(stage_scores) if self.cascade else stage_scores[0]
        dets, labels, kept = rcnn_detections(bbox_heads[-1], rois, cls_score, bbox_pred,
                                             proposal_kept, size, roi_head.test_cfg)
        if not self.with_mask:
            return dets, labels
        batch, num = dets.shape[0], dets.shape[1]
        mask_rois = _rois(dets[..., :4])
        probs = 0
        mask_heads = self._stages('mask_head')
        for extractor, mask_head in zip(self._stages('mask_roi_extractor'), mask_heads):
            probs = probs + mask_head(roi_features(extractor, feats, mask_rois)).sigmoid()
        probs = probs / len(mask_heads)
        channel = (torch.zeros_like(labels) if mask_heads[-1].class_agnostic
                   else labels.clamp(min=0)).reshape(-1)
        side = probs.shape[-1]
        probs = probs.gather(1, channel.view(-1, 1, 1, 1).expand(-1, 1, side, side))
        probs = probs.view(batch, num, side, side) * kept[..., None, None].to(probs.dtype)
        if not self.paste_masks:
            return dets, labels, probs
        masks = paste_roi_masks(probs.reshape(-1, side, side), dets[..., :4].reshape(-1, 4),
                            size[0], size[1], roi_head.test_cfg['mask_thr_binary'])
        return dets, labels, masks.view(batch, num, masks.shape[-2], masks.shape[-1])


class SegmentorLabelMap(nn.Module):
    """Image batch -> the label map ``(N, H, W)`` of an mmseg segmentor (int64 class ids).

    The argmax of the logits at the input size (mmseg's ``predict``); a one-channel head
    thresholds the sigmoid at the decode head's ``threshold``, as mmseg does.

    Args:
        model (nn.Module): An mmseg segmentor.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from .wrappers import export_wrapper
        self.logits = export_wrapper(model)
        self.threshold = float(getattr(model.decode_head, 'threshold', None) or 0.3)

    def output_names(self, num_outputs: int = 1) -> List[str]:
        """Names of the exported outputs."""
        return ['labels']

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor]:
        logits = self.logits(image)[0]
        if logits.shape[1] == 1:
            return ((logits.sigmoid() > self.threshold).squeeze(1).long(), )
        return (logits.argmax(dim=1), )


def _nms_problem(model: nn.Module) -> Optional[str]:
    """The first NMS of the detector's test config that has no ONNX form (None: all have)."""
    if hasattr(model, 'roi_head'):
        stages = [('RPN', model.rpn_head.test_cfg), ('RoI head', model.roi_head.test_cfg)]
    else:
        stages = [(type(model.bbox_head).__name__, model.bbox_head.test_cfg)]
    for stage, cfg in stages:
        if not cfg or 'nms' not in cfg:
            return f'the {stage} has no test_cfg with nms settings'
        try:
            _nms_threshold(cfg['nms'], stage)
        except ExportError as error:
            return str(error).split(': ', 1)[1].split('; ')[0]
    return None


def _head_problem(model: nn.Module) -> Optional[str]:
    """Why ``model``'s head or post-processing has no end-to-end export (None: it has)."""
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    if isinstance(model, (SingleStageDetector, TwoStageDetector)):
        problem = _nms_problem(model)
        if problem is not None:
            return problem
    if isinstance(model, SingleStageDetector):
        head = model.bbox_head
        name = type(head).__name__
        if not hasattr(head, 'prior_generator') or not hasattr(head, 'bbox_coder'):
            return f'the dense head {name} has no prior generator and box coder'
        if getattr(getattr(head, 'loss_cls', None), 'custom_cls_channels', False):
            return f'the dense head {name} uses custom class channels'
        return None
    if isinstance(model, TwoStageDetector):
        from mmdet.models.dense_heads import RPNHead
        from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
        from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
        if not isinstance(model.rpn_head, RPNHead):
            return f'the RPN {type(model.rpn_head).__name__} is not mmdet\'s RPNHead'
        roi_head = model.roi_head
        if type(roi_head) not in (StandardRoIHead, CascadeRoIHead):
            return f'the RoI head {type(roi_head).__name__} (StandardRoIHead and ' \
                   'CascadeRoIHead export)'
        if getattr(roi_head, 'with_shared_head', False):
            return 'the RoI head has a shared head'
        names = ['bbox_roi_extractor'] + (['mask_roi_extractor'] if roi_head.with_mask else [])
        for name in names:
            module = getattr(roi_head, name)
            for extractor in (module if isinstance(module, nn.ModuleList) else [module]):
                if not isinstance(extractor, SingleRoIExtractor):
                    return f'the RoI extractor {type(extractor).__name__}'
                layer = extractor.roi_layers[0]
                if type(layer).__name__ != 'RoIAlign' or getattr(layer, 'pool_mode',
                                                                 'avg') != 'avg':
                    return (f'the RoI layer {type(layer).__name__} (only average RoIAlign maps '
                            'to ONNX RoiAlign)')
        heads = roi_head.bbox_head if isinstance(roi_head.bbox_head, nn.ModuleList) else [
            roi_head.bbox_head]
        for head in heads:
            if head.custom_cls_channels or not head.with_reg:
                return f'the box head {type(head).__name__} (custom scores or no regression)'
        return None
    return f'the detector {type(model).__name__} (single-stage and two-stage R-CNN detectors ' \
           'export end to end)'


def check_parts(task: str, parts: Optional[str]) -> str:
    """The export ``parts`` for ``task`` (its default when None), refused when it does not fit.

    Raises:
        ToolError: ``parts`` is not one of :data:`PARTS` for the task.
    """
    from ..utils import ToolError
    choices = PARTS[task]
    if parts is None:
        return choices[0]
    if parts not in choices:
        raise ToolError(f'--parts {parts} does not fit a {task} model; choose '
                        f'{" or ".join(choices)}', exit_code=2)
    return parts


def end2end_wrapper(model: nn.Module, task: str, parts: str,
                    paste_masks: bool = False) -> Optional[nn.Module]:
    """The export wrapper for ``parts`` other than today's tensor outputs, in eval mode.

    Args:
        model (nn.Module): The model (its task is ``task``).
        task (str): ``'detection'``, ``'segmentation'`` or ``'classification'``.
        parts (str): A value of :data:`PARTS` for the task (see :func:`check_parts`).
        paste_masks (bool): Instance masks pasted into the input in the graph.

    Returns:
        nn.Module | None: The wrapper; None where ``parts`` is the tensor-mode output of
        :func:`mmmobile.deploy.wrappers.export_wrapper` (features, logits).

    Raises:
        ExportError: The detector's head or post-processing has no end-to-end export (the
            part is named), or ``paste_masks`` for a model without masks.
    """
    from ..utils import ToolError
    if paste_masks and not (task == 'detection' and parts == 'detections'
                            and getattr(getattr(model, 'roi_head', None), 'with_mask', False)):
        raise ToolError('--paste-masks needs an instance segmentation detector exported with '
                        '--parts detections', exit_code=2)
    if task == 'segmentation' and parts == 'labels':
        return SegmentorLabelMap(model).eval()
    if task != 'detection' or parts != 'detections':
        return None
    problem = _head_problem(model)
    if problem is not None:
        raise ExportError(f'end-to-end export: {problem} cannot be exported; --parts features '
                          'exports the feature maps')
    from mmdet.models.detectors import SingleStageDetector
    if isinstance(model, SingleStageDetector):
        return SingleStageEnd2End(model).eval()
    return TwoStageEnd2End(model, paste_masks=paste_masks).eval()


def predict_call(model: nn.Module, inputs: torch.Tensor):
    """A zero-argument call of the toolbox's ``predict`` on a normalized batch (image to
    detections or label map, what the end-to-end graph computes), for latency measurements."""
    from .wrappers import model_task
    if model_task(model) == 'detection':
        from mmdet.structures import DetDataSample
        shape = tuple(inputs.shape[2:])
        samples = [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                               scale_factor=(1., 1.)))
                   for _ in range(inputs.shape[0])]
        return lambda: model.predict(inputs, samples, rescale=False)
    return lambda: model.predict(inputs)


def postprocess_config(wrapper: nn.Module) -> Dict:
    """The post-processing settings an end-to-end detector graph has baked in (for the report)."""
    if isinstance(wrapper, SingleStageEnd2End):
        cfg = wrapper.cfg
        return dict(score_thr=cfg.get('score_thr', 0), nms_iou_threshold=cfg['nms'][
            'iou_threshold'], nms_pre=cfg.get('nms_pre', -1), max_per_img=cfg['max_per_img'],
            min_bbox_size=cfg.get('min_bbox_size', -1))
    if isinstance(wrapper, TwoStageEnd2End):
        rpn, rcnn = wrapper.model.rpn_head.test_cfg, wrapper.model.roi_head.test_cfg
        result = dict(score_thr=rcnn['score_thr'], nms_iou_threshold=rcnn['nms']['iou_threshold'],
                      max_per_img=rcnn['max_per_img'],
                      rpn=dict(nms_pre=rpn.get('nms_pre', -1), max_per_img=rpn['max_per_img'],
                               nms_iou_threshold=rpn['nms']['iou_threshold'],
                               min_bbox_size=rpn.get('min_bbox_size', -1)))
        if wrapper.with_mask:
            result.update(mask_thr_binary=rcnn['mask_thr_binary'],
                          masks='pasted binary masks (N, K, H, W)' if wrapper.paste_masks else
                          'RoI mask probabilities (N, K, M, M): paste into each box and '
                          'threshold at mask_thr_binary')
        return result
    return {}
