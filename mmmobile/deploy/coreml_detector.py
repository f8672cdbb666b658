"""Core ML object detectors: a decoder ML program followed by Core ML's NonMaximumSuppression.

The layout Apple's Vision framework turns into ``VNRecognizedObjectObservation``s: a
``Pipeline`` whose first model maps the image to ``confidence`` ``(boxes, classes)`` (the
class probabilities of every anchor) and ``coordinates`` ``(boxes, 4)`` (the decoded boxes as
centre x, centre y, width, height, normalized by the input width and height), and whose last
model is a ``NonMaximumSuppression`` model with the config's NMS IoU and score threshold and
the dataset's class names as labels.

The decoder runs the detector's own modules (backbone, neck, mmdet's dense head, anchor
generator and box coder) on a fixed input size; its image input normalizes the pixels as for
classifiers (:mod:`mmmobile.deploy.coreml`). Differences from mmdet's ``predict`` that the
Core ML NMS model cannot express: no per-level pre-NMS top-k (``nms_pre``), no
``min_bbox_size`` filter and no ``max_per_img`` cap (the app keeps the best boxes). Two-stage
detectors have no such layout (their RoIAlign has no coremltools converter); see
:func:`export_coreml_detector`.
"""
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Sequence

import torch
import torch.nn as nn

from .coreml import export_coreml, import_coremltools
from .end2end import _decode, _levels_scores
from .export import ExportError

#: Names of the pipeline's outputs (what Vision reads).
OUTPUTS = ('confidence', 'coordinates')


class DenseDetectorDecoder(nn.Module):
    """Normalized image ``(1, 3, H, W)`` -> ``confidence`` ``(A, C)``, ``coordinates`` ``(A, 4)``.

    The anchors of the fixed input size are computed once, with the head's anchor generator.

    Args:
        model (nn.Module): A single-stage mmdet detector (RetinaNet, SSD/SSDLite, ...).
        input_shape (Sequence[int]): ``(H, W)`` of the Core ML image input.
    """

    def __init__(self, model: nn.Module, input_shape: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.height, self.width = int(input_shape[0]), int(input_shape[1])
        head = model.bbox_head
        with torch.no_grad():
            outputs = head(model.extract_feat(torch.zeros(1, 3, self.height, self.width)))
        if len(outputs) != 2:
            raise ExportError(f'CoreML detector: the dense head {type(head).__name__} returns '
                              f'{len(outputs)} output groups; only class scores + box deltas fit '
                              'the Core ML NMS layout')
        priors = head.prior_generator.grid_priors([c.shape[-2:] for c in outputs[0]],
                                                  device='cpu')
        priors = [p.tensor if hasattr(p, 'tensor') else p for p in priors]
        self.register_buffer('priors', torch.cat(priors), persistent=False)
        self.register_buffer('size', torch.tensor([self.height, self.width]), persistent=False)
        self.register_buffer('norm', torch.tensor([self.width, self.height] * 2,
                                                  dtype=torch.float32), persistent=False)

    def output_names(self, num_outputs: int = 2) -> List[str]:
        """Names of the outputs."""
        return list(OUTPUTS)

    def forward(self, image: torch.Tensor):
        head = self.model.bbox_head
        cls_scores, bbox_preds = head(self.model.extract_feat(image))
        scores, deltas = _levels_scores(head, cls_scores, bbox_preds, head.num_classes)
        boxes = _decode(head.bbox_coder, self.priors, torch.cat(deltas, 1)[0], self.size)
        boxes = boxes / self.norm
        centre_size = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]],
                                dim=1)
        return torch.cat(scores, 1)[0], centre_size


def class_names(cfg) -> List[str]:
    """The class names of a detection config's test set (its metainfo, else the dataset's)."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset and 'metainfo' not in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None and dataset.get('type'):
        try:
            from mmdet.registry import DATASETS
            classes = DATASETS.get(dataset['type']).METAINFO.get('classes')
        except Exception:  # noqa: BLE001 - unknown dataset types: numbered labels below
            classes = None
    return [str(c) for c in classes] if classes else []


def nms_spec(decoder_spec, iou_threshold: float, score_threshold: float, labels: List[str]):
    """A ``NonMaximumSuppression`` model spec reading the decoder's two outputs."""
    ct = import_coremltools()
    spec = ct.proto.Model_pb2.Model()
    spec.specificationVersion = decoder_spec.specificationVersion
    for source in decoder_spec.description.output:
        spec.description.input.add().CopyFrom(source)
        spec.description.output.add().CopyFrom(source)
    for feature in spec.description.output:
        array = feature.type.multiArrayType
        boxes, columns = int(array.shape[0]), int(array.shape[1])
        del array.shape[:]
        array.shapeRange.sizeRanges.add(lowerBound=0, upperBound=-1)
        array.shapeRange.sizeRanges.add(lowerBound=columns, upperBound=columns)
        del boxes
    for name, kind in (('iouThreshold', 'IoU threshold'),
                       ('confidenceThreshold', 'score threshold')):
        feature = spec.description.input.add()
        feature.name = name
        feature.shortDescription = f'optional override of the {kind}'
        feature.type.doubleType.SetInParent()
        feature.type.isOptional = True
    nms = spec.nonMaximumSuppression
    nms.confidenceInputFeatureName, nms.coordinatesInputFeatureName = OUTPUTS
    nms.confidenceOutputFeatureName, nms.coordinatesOutputFeatureName = OUTPUTS
    nms.iouThresholdInputFeatureName = 'iouThreshold'
    nms.confidenceThresholdInputFeatureName = 'confidenceThreshold'
    nms.iouThreshold = iou_threshold
    nms.confidenceThreshold = score_threshold
    nms.pickTop.perClass = True
    nms.stringClassLabels.vector.extend(labels)
    return spec


def pipeline_summary(path: str) -> Dict:
    """What a saved detector pipeline holds (its structural check reads this)."""
    ct = import_coremltools()
    spec = ct.utils.load_spec(path)
    kind = spec.WhichOneof('Type')
    summary = dict(type=kind, spec_version=int(spec.specificationVersion), models=[],
                   inputs={}, outputs=[f.name for f in spec.description.output])
    for feature in spec.description.input:
        if feature.type.WhichOneof('Type') == 'imageType':
            image = feature.type.imageType
            summary['inputs'][feature.name] = dict(
                type='image', shape=[int(image.height), int(image.width)],
                color=ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(
                    image.colorSpace))
        else:
            summary['inputs'][feature.name] = dict(type=feature.type.WhichOneof('Type'))
    if kind != 'pipeline':
        return summary
    for model in spec.pipeline.models:
        summary['models'].append(model.WhichOneof('Type'))
        if model.WhichOneof('Type') == 'nonMaximumSuppression':
            nms = model.nonMaximumSuppression
            summary['nms'] = dict(iou_threshold=nms.iouThreshold,
                                  score_threshold=nms.confidenceThreshold,
                                  per_class=nms.pickTop.perClass,
                                  labels=list(nms.stringClassLabels.vector))
        elif model.WhichOneof('Type') == 'mlProgram':
            outputs = {f.name: [int(d) for d in f.type.multiArrayType.shape]
                       for f in model.description.output}
            summary['decoder_outputs'] = outputs
    return summary


def missing_converters(module: nn.Module, example: torch.Tensor) -> List[str]:
    """Custom operators (``torchvision::``, ``mmcv::`` ...) of ``module``'s trace that
    coremltools has no converter for (``aten`` operators are left to the conversion)."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import \
        _TORCH_OPS_REGISTRY

    from .export import trace_module
    import_coremltools()
    known = set(_TORCH_OPS_REGISTRY.name_to_func_mapping)
    kinds = {node.kind() for node in trace_module(module, example).inlined_graph.nodes()}
    return sorted(kind for kind in kinds
                  if kind.split('::')[0] not in ('aten', 'prim') and kind not in known
                  and kind.replace('::', '_') not in known)


def export_coreml_detector(wrapper: nn.Module, cfg, pixels: torch.Tensor, path: str,
                           mean: Sequence[float], std: Sequence[float], rgb: bool = True,
                           fp16: bool = False, verify: bool = True) -> Dict:
    """Write a detector as a Core ML decoder + NonMaximumSuppression pipeline.

    Single-stage detectors convert (:class:`DenseDetectorDecoder`); for two-stage detectors
    the end-to-end graph is tried and the operator coremltools cannot convert is named
    (``torchvision::roi_align``: coremltools 9 has no converter for it).

    Args:
        wrapper (nn.Module): The end-to-end export wrapper of a fused mmdet detector
            (:func:`mmmobile.deploy.end2end.end2end_wrapper`).
        cfg (Config): Its config (the class names).
        pixels (Tensor): An example image ``(1, 3, H, W)`` in [0, 255] (fixes the input size).
        path (str): Output ``.mlpackage`` folder.
        mean, std (Sequence[float]): The data preprocessor's normalization.
        rgb (bool): The model consumes RGB. Defaults to True.
        fp16 (bool): Float16 compute. Defaults to False.
        verify (bool): Check the saved pipeline's structure. Defaults to True.

    Returns:
        dict: ``file``, ``layout`` (``'pipeline: mlProgram -> nonMaximumSuppression'``),
        ``precision``, ``preprocessing``, ``nms`` (thresholds and labels), the
        ``differences_from_predict`` and the :func:`pipeline_summary` of the saved package.

    Raises:
        ExportError: The detector does not fit the layout, coremltools cannot convert an
            operator (named), or the saved pipeline is not as expected.
    """
    from .end2end import SingleStageEnd2End
    if not isinstance(wrapper, SingleStageEnd2End):
        mean_t, std_t = (torch.tensor(v).reshape(1, -1, 1, 1) for v in (mean, std))
        missing = missing_converters(wrapper, (pixels - mean_t) / std_t)
        if missing:
            raise ExportError(f'CoreML conversion (coremltools) cannot handle the operator '
                              f'{missing[0]!r} (no converter in coremltools '
                              f'{import_coremltools().__version__}; used by '
                              f'{type(wrapper.model).__name__}\'s RoI heads)')
        return export_coreml(wrapper, pixels, path, wrapper.output_names(), mean, std,
                             rgb=rgb, fp16=fp16, verify=verify)
    model = wrapper.model
    ct = import_coremltools()
    test_cfg = model.bbox_head.test_cfg
    iou = float(test_cfg['nms']['iou_threshold'])
    score_thr = float(test_cfg.get('score_thr', 0.0))
    decoder = DenseDetectorDecoder(model, pixels.shape[2:]).eval()
    labels = class_names(cfg)
    if len(labels) != model.bbox_head.num_classes:
        labels = [str(i) for i in range(model.bbox_head.num_classes)]
    work = tempfile.mkdtemp(dir=osp.dirname(osp.abspath(path)), prefix='.coreml-')
    try:
        decoder_path = osp.join(work, 'decoder.mlpackage')
        decoder_report = export_coreml(decoder, pixels, decoder_path, list(OUTPUTS), mean, std,
                                       rgb=rgb, fp16=fp16, verify=verify, frontend='export')
        decoder_model = ct.models.MLModel(decoder_path, skip_model_load=True)
        nms_model = ct.models.MLModel(
            nms_spec(decoder_model.get_spec(), iou, score_thr, labels), skip_model_load=True)
        pipeline = ct.utils.make_pipeline(decoder_model, nms_model)
        pipeline.short_description = (f'{type(model).__name__}: image -> confidence (boxes x '
                                      f'{len(labels)} classes), coordinates (boxes x 4, '
                                      'normalized centre x, centre y, width, height)')
        pipeline.user_defined_metadata['classes'] = ','.join(labels)
        pipeline.save(path)
    except ExportError:
        raise
    except Exception as error:  # noqa: BLE001 - coremltools errors become one message
        raise ExportError(f'CoreML detector pipeline failed: {type(error).__name__}: '
                          f'{str(error).splitlines()[0] if str(error) else ""}') from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = dict(file=path, layout='pipeline: mlProgram -> nonMaximumSuppression',
                  precision=decoder_report['precision'],
                  preprocessing=decoder_report['preprocessing'],
                  fold_relative_error=decoder_report.get('fold_relative_error'),
                  nms=dict(iou_threshold=iou, score_threshold=score_thr, per_class=True,
                           labels=labels),
                  differences_from_predict='no pre-NMS top-k (nms_pre), no min_bbox_size '
                  'filter, no max_per_img cap (Core ML NMS keeps every box above the score '
                  'threshold); each box is kept once, under its best class, where mmdet may '
                  'keep one anchor for several classes')
    if not verify:
        return report
    summary = pipeline_summary(path)
    expected_image = dict(type='image', shape=list(pixels.shape[2:]),
                          color='RGB' if rgb else 'BGR')
    problems = []
    if summary['type'] != 'pipeline' or summary['models'][-1:] != ['nonMaximumSuppression']:
        problems.append(f"models {summary['models']} (expected a pipeline ending in "
                        'nonMaximumSuppression)')
    elif summary['nms'] != report['nms']:
        problems.append(f"NMS settings {summary['nms']} (expected {report['nms']})")
    if summary['inputs'].get('image') != expected_image:
        problems.append(f"image input {summary['inputs'].get('image')} (expected "
                        f'{expected_image})')
    if summary['outputs'] != list(OUTPUTS):
        problems.append(f"outputs {summary['outputs']} (expected {list(OUTPUTS)})")
    if problems:
        raise ExportError('saved CoreML detector pipeline is not as expected: '
                          + '; '.join(problems))
    report['pipeline'] = summary
    return report


__all__ = ['DenseDetectorDecoder', 'class_names', 'export_coreml_detector', 'missing_converters',
           'nms_spec', 'pipeline_summary']
