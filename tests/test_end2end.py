"""End-to-end deployment (issue 11): detections out of the exported graph, evaluation through it.

For every detector family of ``configs/det/`` (Mask R-CNN, Cascade Mask R-CNN, RetinaNet,
SSDLite; tiny arch dicts) the ONNX graph of :func:`mmmobile.deploy.end2end.end2end_wrapper`,
run by onnxruntime at batch 2, gives what mmdet's ``predict`` gives on the same weights and
images: the same boxes, labels and scores and, after pasting, the same masks. The head weights
are set so that the scores are well separated (one calibration pass, :func:`separate_scores`),
and each test first shows that its case would catch a wrong score threshold, NMS IoU, class
offset, box decoding and (two-stage) RoI level mapping: mmdet's own prediction changes when any
of them changes.

The runtime evaluation (``tools/test.py CONFIG model.onnx``) gives the metrics and predictions
``tools/test.py`` gives for the PyTorch model, for a detector, a segmentor and a classifier on a
few demo images.
"""
import copy
import os.path as osp
import pickle
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from mmmobile.deploy import build_model, export_wrapper
from mmmobile.deploy.end2end import end2end_wrapper, paste_roi_masks
from mmmobile.deploy.export import ExportError, export_onnx, onnx_session
from mmmobile.engine import run_test
from mmmobile.utils import ToolError
from mmmobile.utils import randomize_bn_statistics, relative_error
from .conftest import REPO_ROOT

TINY = dict(type='mmmobile.RepViT', arch=dict(channels=[16, 32, 48, 64], num_blocks=[1, 1, 1, 1]))
IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
SIZE = (128, 128)


def _roi_extractor(size: int, finest_scale: int) -> dict:
    # A small finest_scale spreads the RoIs of 128-pixel images over all four levels.
    return dict(type='SingleRoIExtractor', out_channels=32, featmap_strides=[4, 8, 16, 32],
                finest_scale=finest_scale,
                roi_layer=dict(type='RoIAlign', output_size=size, sampling_ratio=0))


def _box_head(agnostic: bool, stds=(0.1, 0.1, 0.2, 0.2)) -> dict:
    return dict(type='Shared2FCBBoxHead', in_channels=32, fc_out_channels=64, roi_feat_size=7,
                num_classes=3, reg_class_agnostic=agnostic,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                target_stds=list(stds)))


def _two_stage(cascade: bool) -> dict:
    roi_head = dict(
        type='StandardRoIHead', bbox_roi_extractor=_roi_extractor(7, 8),
        bbox_head=_box_head(False), mask_roi_extractor=_roi_extractor(14, 8),
        mask_head=dict(type='FCNMaskHead', num_convs=1, in_channels=32, conv_out_channels=16,
                       num_classes=3))
    if cascade:
        roi_head.update(type='CascadeRoIHead', num_stages=2, stage_loss_weights=[1, 0.5],
                        bbox_head=[_box_head(True), _box_head(True, (0.05, 0.05, 0.1, 0.1))])
    return dict(
        type='CascadeRCNN' if cascade else 'MaskRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor', bgr_to_rgb=True, **IMAGENET),
        backbone=dict(TINY, out_indices=(0, 1, 2, 3)),
        neck=dict(type='FPN', in_channels=[16, 32, 48, 64], out_channels=32, num_outs=5),
        rpn_head=dict(
            type='RPNHead', in_channels=32, feat_channels=32,
            anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0],
                                  strides=[4, 8, 16, 32, 64]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                            target_stds=[1.0] * 4)),
        roi_head=roi_head,
        train_cfg=None,
        test_cfg=dict(
            rpn=dict(nms_pre=200, max_per_img=60, nms=dict(type='nms', iou_threshold=0.7),
                     min_bbox_size=0),
            # A score threshold below 0.5 lets two classes of one RoI pass (softmax scores).
            rcnn=dict(score_thr=0.15 if cascade else 0.3, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=50 if cascade else 40, mask_thr_binary=0.5)))


def _retinanet() -> dict:
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', bgr_to_rgb=True, **IMAGENET),
        backbone=dict(TINY, out_indices=(1, 2, 3)),
        neck=dict(type='FPN', in_channels=[32, 48, 64], out_channels=32,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=32, stacked_convs=1, feat_channels=32,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                  strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4,
                            target_stds=[1.0] * 4)),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.8,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))


def _ssdlite() -> dict:
    return dict(
        type='SingleStageDetector',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
                               bgr_to_rgb=False, pad_size_divisor=1),
        backbone=dict(TINY, out_indices=(2, 3)),
        neck=dict(type='SSDNeck', in_channels=(48, 64), out_channels=(48, 64, 32, 32),
                  level_strides=(2, 2), level_paddings=(1, 1), l2_norm_scale=None,
                  use_depthwise=True),
        bbox_head=dict(
            type='mmmobile.SSDLiteHead', in_channels=(48, 64, 32, 32), num_classes=3,
            use_depthwise=True,
            anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                                  strides=[16, 32, 64, 128], ratios=[[2, 3]] * 4,
                                  min_sizes=[16, 32, 64, 96], max_sizes=[32, 64, 96, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4,
                            target_stds=[0.1, 0.1, 0.2, 0.2])),
        test_cfg=dict(nms_pre=100, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
                      score_thr=0.8, max_per_img=150))


FAMILIES = {'mask_rcnn': lambda: _two_stage(False), 'cascade_mask_rcnn': lambda: _two_stage(True),
            'retinanet': _retinanet, 'ssdlite': _ssdlite}

_FINAL_SCORES = re.compile(r'(rpn_cls|retina_cls|fc_cls|cls_convs\.\d+\.1)$')
_FINAL_DELTAS = re.compile(r'(rpn_reg|retina_reg|fc_reg|reg_convs\.\d+\.1)$')


def images(batch: int = 2, size=SIZE, seed: int = 0) -> torch.Tensor:
    """Smooth random images, normalized with the ImageNet statistics."""
    low = torch.rand(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    pixels = F.interpolate(low, size=size, mode='bilinear') * 255
    return (pixels - torch.tensor(IMAGENET['mean']).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET['std']).view(1, 3, 1, 1)


def data_samples(inputs: torch.Tensor) -> list:
    from mmdet.structures import DetDataSample
    shape = tuple(inputs.shape[2:])
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, scale_factor=(1., 1.)))
            for _ in range(inputs.shape[0])]


def predict(model: nn.Module, inputs: torch.Tensor) -> list:
    with torch.no_grad():
        return [s.pred_instances for s in model.predict(inputs, data_samples(inputs),
                                                        rescale=False)]


def separate_scores(model: nn.Module, inputs: torch.Tensor, seed: int = 0) -> nn.Module:
    """Deterministic head weights whose outputs have set spreads, in one forward pass.

    Random BatchNorm statistics in the backbone; every head convolution / linear layer gets
    normal weights, rescaled (by a forward hook, in the order the prediction runs them) so that
    its output has mean 0 and std 1, class logits mean -1 and std 2, box deltas std 0.4, mask
    logits mean 0.5 and std 2: scores spread over (0, 1) instead of mmdet's near-equal initial
    ones.
    """
    generator = torch.Generator().manual_seed(seed)
    randomize_bn_statistics(model, seed=seed)
    done, hooks = set(), []

    def calibrate(module, args, output, target):
        if module in done:
            return None
        done.add(module)
        std, mean = target
        factor = std / output.std().clamp_min(1e-6)
        module.weight.data *= factor
        if module.bias is None:  # (followed by a norm layer)
            return output * factor
        shift = mean - factor * output.mean()
        module.bias.data = module.bias.data * factor + shift
        return output * factor + shift

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and not name.startswith('backbone'):
            module.weight.data = torch.randn(module.weight.shape, generator=generator)
            if module.bias is not None:
                module.bias.data = torch.randn(module.bias.shape, generator=generator) * 0.5
            target = ((2.0, -1.0) if _FINAL_SCORES.search(name) else
                      (0.4, 0.0) if _FINAL_DELTAS.search(name) else
                      (2.0, 0.5) if name.endswith('conv_logits') else (1.0, 0.0))
            hooks.append(module.register_forward_hook(
                lambda m, a, o, t=target: calibrate(m, a, o, t)))
    predict(model, inputs)
    for hook in hooks:
        hook.remove()
    return model


def detector(family: str, inputs: torch.Tensor) -> nn.Module:
    torch.manual_seed(0)  # the backbone's initialization
    model = build_model(Config(dict(default_scope='mmdet', model=FAMILIES[family]())))
    return separate_scores(model, inputs)


def same_predictions(a: list, b: list) -> bool:
    return all(len(x) == len(y) and torch.equal(x.labels, y.labels)
               and torch.allclose(x.bboxes, y.bboxes) for x, y in zip(a, b))


def _changed(model: nn.Module, inputs: torch.Tensor, reference: list, change) -> bool:
    """Whether ``change(model copy)`` alters mmdet's predictions on ``inputs``."""
    altered = copy.deepcopy(model)
    change(altered)
    return not same_predictions(predict(altered, inputs), reference)


def _test_cfgs(model: nn.Module) -> list:
    return [model.roi_head.test_cfg] if hasattr(model, 'roi_head') else [
        model.bbox_head.test_cfg]


def _scale_thresholds(model, key: str, factor: float) -> None:
    for cfg in _test_cfgs(model):
        if key == 'iou':
            cfg['nms']['iou_threshold'] *= factor
        else:
            cfg['score_thr'] *= factor


def _class_agnostic(model) -> None:
    for cfg in _test_cfgs(model):
        cfg['nms']['class_agnostic'] = True


def _scale_coder(model) -> None:
    heads = model.roi_head.bbox_head if hasattr(model, 'roi_head') else model.bbox_head
    for head in (heads if isinstance(heads, nn.ModuleList) else [heads]):
        head.bbox_coder.stds = [s * 1.5 for s in head.bbox_coder.stds]


def _finer_levels(model) -> None:
    for extractor in (model.roi_head.bbox_roi_extractor
                      if isinstance(model.roi_head.bbox_roi_extractor, nn.ModuleList)
                      else [model.roi_head.bbox_roi_extractor]):
        extractor.finest_scale *= 2


@pytest.mark.parametrize('family', list(FAMILIES))
def test_onnx_detections_equal_mmdet_predict(family, tmp_path):
    inputs = images(2)
    model = detector(family, inputs)
    reference = predict(model, inputs)
    counts = [len(r) for r in reference]
    limit = _test_cfgs(model)[0]['max_per_img']
    # The case is sensitive: some images have fewer detections than the cap, and mmdet's result
    # changes with the score threshold, the NMS IoU, class-aware NMS and the box decoding (and
    # the RoI level mapping of two-stage detectors).
    assert min(counts) > 0 and min(counts) < limit, counts
    changes = dict(score_thr=lambda m: _scale_thresholds(m, 'score', 0.7),
                   iou=lambda m: _scale_thresholds(m, 'iou', 0.7), class_offset=_class_agnostic,
                   decoding=_scale_coder)
    if family.endswith('mask_rcnn'):
        changes['level_mapping'] = _finer_levels
    insensitive = [name for name, change in changes.items()
                   if not _changed(model, inputs, reference, change)]
    assert not insensitive, f'the case cannot detect a wrong {insensitive}'

    paste = family == 'cascade_mask_rcnn'  # one family pastes the masks in the graph
    wrapper = end2end_wrapper(model, 'detection', 'detections', paste_masks=paste)
    path = str(tmp_path / 'model.onnx')
    export_onnx(wrapper, inputs[:1], path, wrapper.output_names(), dynamic=['batch'],
                verify=False)
    outputs = onnx_session(path).run(None, {'image': inputs.numpy()})  # batch 2: dynamic
    dets, labels = torch.from_numpy(outputs[0]), torch.from_numpy(outputs[1])
    assert dets.shape == (2, limit, 5) and labels.shape == (2, limit)
    for i, expected in enumerate(reference):
        valid = labels[i] >= 0
        assert int(valid.sum()) == len(expected)
        assert not valid[len(expected):].any(), 'padded slots come last'
        assert torch.equal(labels[i][valid], expected.labels)
        assert relative_error(dets[i][valid, :4], expected.bboxes) <= 1e-5
        assert (dets[i][valid, 4] - expected.scores).abs().max() <= 1e-5
        assert dets[i][~valid].abs().sum() == 0
        if 'masks' in expected:
            masks = torch.from_numpy(outputs[2])[i][valid]
            if not paste:
                assert masks.shape[1:] == (28, 28)
                masks = paste_roi_masks(masks, dets[i][valid, :4], *SIZE)
            assert masks.shape == expected.masks.shape
            assert (masks != expected.masks).float().mean() <= 1e-3
            assert expected.masks.any(dim=(1, 2)).float().mean() >= 0.8, 'masks cover pixels'
    if family.endswith('mask_rcnn'):
        extractor = model.roi_head.bbox_roi_extractor
        extractor = extractor[0] if isinstance(extractor, nn.ModuleList) else extractor
        rois = torch.cat([torch.zeros(len(reference[0]), 1), reference[0].bboxes], dim=1)
        assert len(set(extractor.map_roi_levels(rois, 4).tolist())) >= 2, 'RoIs on 2+ levels'


# ------------------------------------------------------------------------------------------------
# Core ML: single-stage detectors as decoder + NonMaximumSuppression pipelines
# ------------------------------------------------------------------------------------------------
def test_coreml_ssdlite_pipeline_ends_in_nms(tmp_path):
    pytest.importorskip('coremltools')
    from mmmobile.deploy.coreml_detector import DenseDetectorDecoder, export_coreml_detector
    inputs = images(1)
    model = detector('ssdlite', inputs)
    model.bbox_head.test_cfg['max_per_img'] = 1000
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='CocoDataset', metainfo=dict(classes=('circle', 'square', 'triangle'))))))
    wrapper = end2end_wrapper(model, 'detection', 'detections')
    pixels = torch.rand(1, 3, *SIZE, generator=torch.Generator().manual_seed(1)) * 255
    report = export_coreml_detector(wrapper, cfg, pixels, str(tmp_path / 'ssd.mlpackage'),
                                    mean=[0, 0, 0], std=[255, 255, 255], rgb=False)
    pipeline = report['pipeline']
    assert pipeline['type'] == 'pipeline'
    assert pipeline['models'] == ['mlProgram', 'nonMaximumSuppression']
    assert pipeline['nms'] == dict(iou_threshold=0.45, score_threshold=0.8, per_class=True,
                                   labels=['circle', 'square', 'triangle'])
    assert pipeline['inputs']['image'] == dict(type='image', shape=list(SIZE), color='BGR')
    assert pipeline['outputs'] == ['confidence', 'coordinates']
    assert report['preprocessing']['scale'] == pytest.approx(1 / 255)
    num_anchors = pipeline['decoder_outputs']['confidence'][0]
    assert pipeline['decoder_outputs'] == dict(confidence=[num_anchors, 3],
                                               coordinates=[num_anchors, 4])

    # The decoder's rows hold every detection of mmdet's predict: the same score for its class
    # and its box as normalized centre x, centre y, width, height.
    decoder = DenseDetectorDecoder(model, SIZE).eval()
    normalized = pixels / 255
    with torch.no_grad():
        confidence, coordinates = decoder(normalized)
    expected = predict(model, normalized)[0]
    assert len(expected) > 0
    centre = (expected.bboxes[:, :2] + expected.bboxes[:, 2:]) / 2 / SIZE[0]
    extent = (expected.bboxes[:, 2:] - expected.bboxes[:, :2]) / SIZE[0]
    for box, score, label in zip(torch.cat([centre, extent], 1), expected.scores,
                                 expected.labels):
        row = (coordinates - box).abs().sum(1).argmin()
        assert (coordinates[row] - box).abs().max() <= 1e-5
        assert abs(confidence[row, label] - score) <= 1e-5


def test_coreml_two_stage_names_the_operator(tmp_path):
    pytest.importorskip('coremltools')
    from mmmobile.deploy.coreml_detector import export_coreml_detector
    inputs = images(1)
    wrapper = end2end_wrapper(detector('mask_rcnn', inputs), 'detection', 'detections')
    with pytest.raises(ExportError, match="cannot handle the operator 'torchvision::roi_align'"):
        export_coreml_detector(wrapper, Config(), torch.rand(1, 3, *SIZE) * 255,
                               str(tmp_path / 'm.mlpackage'), IMAGENET['mean'], IMAGENET['std'])
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------
# requests that do not fit
# ------------------------------------------------------------------------------------------------
def test_parts_that_do_not_fit_are_refused(tmp_path):
    from mmmobile.deploy import deploy
    config = Config(dict(default_scope='mmdet', model=_retinanet()))
    with pytest.raises(ToolError, match='--parts labels does not fit a detection model; choose '
                       'detections or features'):
        deploy(config, None, str(tmp_path / 'out'), input_shape=SIZE, parts='labels')
    with pytest.raises(ToolError, match='--paste-masks needs an instance segmentation detector'):
        deploy(config, None, str(tmp_path / 'out'), input_shape=SIZE, paste_masks=True)
    soft = Config(dict(default_scope='mmdet', model=_two_stage(False)))
    soft.model.test_cfg.rcnn.nms = dict(type='soft_nms', iou_threshold=0.5)
    with pytest.raises(ExportError, match='RoI head uses soft_nms .mmcv.ops.soft_nms., which has '
                       'no ONNX operator'):
        deploy(soft, None, str(tmp_path / 'out'), input_shape=SIZE)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------
# evaluation through onnxruntime with the toolboxes' own metrics
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> str:
    from mmmobile.demo import make_demo_data
    root = str(tmp_path_factory.mktemp('demo'))
    make_demo_data(root, progress=False, num_train=1, det_num_val=4, seg_num_val=3,
                   cls_num_val=6)
    return root


def _demo_config(name: str, root: str, folder) -> Config:
    """A configs/demo config with a tiny RepViT, reading the demo data under ``root``."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'demo', name))
    cfg.model.backbone.arch = copy.deepcopy(TINY['arch'])
    if cfg.default_scope == 'mmpretrain':
        cfg.model.head.in_channels = 64
        data_root = osp.join(root, 'imagenet')
    else:
        cfg.model.neck.in_channels = [16, 32, 48, 64]
        data_root = osp.join(root, 'coco' if cfg.default_scope == 'mmdet' else
                             'ade/ADEChallengeData2016')
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[key].dataset.data_root = data_root
    if cfg.default_scope == 'mmdet':
        for key in ('val_evaluator', 'test_evaluator'):
            cfg[key].ann_file = osp.join(data_root, 'annotations', 'instances_val2017.json')
    cfg.work_dir = str(folder / 'work')
    return cfg


RUNTIME_CASES = {  # demo config, export size, deploy parts
    'detector': ('mask-rcnn_repvit-m0.9_fpn_demo-coco.py', (256, 256), None),
    'segmentor': ('fpn_repvit-m0.9_demo-ade20k.py', (128, 128), 'labels'),
    'classifier': ('repvit-m0.6_demo-in1k.py', (64, 64), None),
}


@pytest.mark.parametrize('case', list(RUNTIME_CASES))
def test_onnxruntime_evaluation_gives_the_pytorch_metric(case, demo_root, tmp_path):
    from mmmobile.deploy import deploy
    name, shape, parts = RUNTIME_CASES[case]
    cfg = _demo_config(name, demo_root, tmp_path)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = build_model(cfg)
    if case == 'detector':
        separate_scores(model, images(1, shape))
    else:
        randomize_bn_statistics(model)
    checkpoint = str(tmp_path / 'trained.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    # (deploy's own checks are tested in test_deploy.py; the metrics below check the graph)
    report = deploy(config, checkpoint, str(tmp_path / 'deploy'), input_shape=shape,
                    dynamic=['batch'], parts=parts, verify=False)
    onnx_file = str(tmp_path / 'deploy' / 'model.onnx')

    out = dict(detector='.pkl', segmentor=None, classifier='.pkl')[case]
    runs = {}
    for kind, weights in (('pytorch', checkpoint), ('onnxruntime', onnx_file)):
        dump = str(tmp_path / f'{kind}{out}') if out else None
        runs[kind] = (run_test(config, weights, work_dir=str(tmp_path / kind), out=dump), dump)
    (expected, expected_dump), (metrics, dump) = runs['pytorch'], runs['onnxruntime']
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key
    if case == 'detector':
        from pycocotools import mask as mask_util
        assert report['outputs']['dets'] == [1, 20, 5]
        with open(expected_dump, 'rb') as f:
            reference = pickle.load(f)
        with open(dump, 'rb') as f:
            results = pickle.load(f)
        total = pasted = 0
        for want, got in zip(reference, results):
            want, got = want['pred_instances'], got['pred_instances']
            total += len(want['labels'])
            assert torch.equal(got['labels'], want['labels'])
            assert relative_error(got['bboxes'], want['bboxes']) <= 1e-4
            assert (got['scores'] - want['scores']).abs().max() <= 1e-4
            got_masks, want_masks = (mask_util.decode(m['masks']) if m['masks'] else None
                                     for m in (got, want))
            assert (got_masks is None) == (want_masks is None)
            if want_masks is not None:
                assert (got_masks != want_masks).mean() <= 1e-3
                pasted += want_masks.shape[-1]
        assert total > 0 and pasted == total
    elif case == 'segmentor':
        assert report['outputs'] == {'labels': [1, *shape]}
        assert expected['mIoU'] > 0
    else:
        assert 0 < expected['accuracy/top1'] < 100


def test_compare_metrics_reads_the_newest_runs(tmp_path):
    import json

    from mmmobile.deploy.runtime import latest_test_metrics, metrics_table
    for name, runs in (('pytorch', {'20260101_000000': 0.1, '20260102_000000': 0.5}),
                       ('onnxruntime', {'20260103_000000': 0.4975})):
        for stamp, value in runs.items():
            (tmp_path / name / stamp).mkdir(parents=True)
            (tmp_path / name / stamp / f'{stamp}.json').write_text(
                json.dumps({'coco/bbox_mAP': value, 'time': 1.0}) + '\n')
    metrics = {name: latest_test_metrics(str(tmp_path / name))
               for name in ('pytorch', 'onnxruntime')}
    assert metrics == {'pytorch': {'coco/bbox_mAP': 0.5}, 'onnxruntime': {'coco/bbox_mAP': 0.4975}}
    assert metrics_table(metrics) == ['metric         pytorch  onnxruntime  difference',
                                      'coco/bbox_mAP  0.5000   0.4975       -0.0025']
    with pytest.raises(ToolError, match='no finished test run in'):
        latest_test_metrics(str(tmp_path / 'missing'))


def test_detection_comparison_pairs_detections():
    """deploy's check of an end-to-end graph: a detection missing at a near-tied cut is
    tolerated (and counted), shifted boxes or a wrong label are not."""
    from mmmobile.deploy.end2end import detection_difference, match_detections
    boxes = torch.tensor([[10., 10, 50, 60], [30, 20, 90, 80], [0, 0, 20, 20], [5, 5, 9, 9]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    dets = torch.cat([boxes, scores[:, None]], 1)
    expected = [torch.cat([dets, torch.zeros(1, 5)])[None], torch.tensor([[0, 1, 1, 2, -1]])]
    assert match_detections(expected, expected) == dict(matched=1.0, relative_error=0.0, count=4)
    # the last detection lost to a near tie at the K cut: 3 of 4 pair up (75% < 90%)
    lost = [expected[0].clone(), expected[1].clone()]
    lost[0][0, 3] = 0
    lost[1][0, 3] = -1
    assert match_detections(lost, expected)['matched'] == 0.75
    assert detection_difference(lost, expected) == pytest.approx(0.25)
    shifted = [expected[0] + torch.tensor([2., 0, 0, 0, 0]), expected[1]]
    assert match_detections(shifted, expected)['matched'] == 0.0
    relabeled = [expected[0], torch.tensor([[0, 1, 2, 2, -1]])]
    assert match_detections(relabeled, expected)['matched'] == 0.75
