"""The deploy tool: fuse -> ONNX / TorchScript / CoreML, verified, for every registered backbone.

Every backbone registered in ``mmmobile.registry.MODELS`` must have a tiny classifier case in
:data:`CLASSIFIERS` (a new family fails :func:`test_every_backbone_has_a_deploy_case` until it
gets one). Each case runs through :func:`mmmobile.deploy.deploy` with random BatchNorm
statistics: ONNX in onnxruntime and the reloaded TorchScript module equal PyTorch, the CoreML
spec has the expected image input and logits output, and the fused checkpoint reloads with the
deploy config and gives the same output.
"""
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

import mmmobile
from mmmobile.deploy import (ExportError, build_model, deploy, export_onnx, export_wrapper,
                             fold_normalization, fuse_checkpoint, load_weights)
from mmmobile.registry import MODELS
from mmmobile.utils import ToolError, randomize_bn_statistics, relative_error
from .conftest import REPO_ROOT
from .test_tools import run_tool

TOLERANCE = 1e-4
CMT_TI = dict(type='mmmobile.CMT', arch='ti', img_size=64, out_indices=(3, ))
REPLKNET_TINY = dict(  # the official-fixture arch (shared/fixtures/official/index.json)
    large_kernel_sizes=[31, 29, 27, 13], layers=[1, 1, 2, 1], channels=[32, 64, 128, 256],
    small_kernel=5, dw_ratio=1, ffn_ratio=4)
IMAGENET_PREPROCESSOR = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                             std=[58.395, 57.12, 57.375], to_rgb=True)

# name -> (backbone, head, neck, data preprocessor); classifiers with 10 classes at 64x64.
CLASSIFIERS = {
    'RepViT': (dict(type='mmmobile.RepViT', arch='m0_6', out_indices=(3, )),
               dict(type='mmmobile.RepViTClsHead', num_classes=10, in_channels=320,
                    distillation=True),
               dict(type='GlobalAveragePooling'), IMAGENET_PREPROCESSOR),
    'RepLKNet': (dict(type='mmmobile.RepLKNet', arch=REPLKNET_TINY, out_indices=(3, ),
                      final_norm=True),
                 dict(type='LinearClsHead', num_classes=10, in_channels=256),
                 dict(type='GlobalAveragePooling'), IMAGENET_PREPROCESSOR),
    'CMT': (CMT_TI, dict(type='mmmobile.CMTClsHead', num_classes=10, in_channels=368), None,
            IMAGENET_PREPROCESSOR),
    # The official MobileViTv3 input: BGR (v1-based) / RGB (v2-based) in [0, 1].
    'MobileViTv3-xxs': (dict(type='mmmobile.MobileViTv3', arch='xxs', out_indices=(4, )),
                        dict(type='mmmobile.MobileViTv3ClsHead', num_classes=10,
                             in_channels=512),
                        dict(type='GlobalAveragePooling'),
                        dict(type='ClsDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
                             to_rgb=False)),
    'MobileViTv3-0.5': (dict(type='mmmobile.MobileViTv3', arch='0.5', out_indices=(4, )),
                        dict(type='mmmobile.MobileViTv3ClsHead', num_classes=10,
                             in_channels=256),
                        dict(type='GlobalAveragePooling'),
                        dict(type='ClsDataPreprocessor', mean=[0, 0, 0], std=[255, 255, 255],
                             to_rgb=True)),
}


def classifier_config(name: str) -> Config:
    backbone, head, neck, preprocessor = CLASSIFIERS[name]
    return Config(dict(
        default_scope='mmpretrain',
        model=dict(type='ImageClassifier', backbone=backbone, neck=neck, head=head,
                   data_preprocessor=preprocessor)))


def trained_checkpoint(config: Config, path: str, seed: int = 0) -> str:
    """A checkpoint of the model with random BatchNorm statistics (a stand-in for training)."""
    torch.manual_seed(seed)
    model = randomize_bn_statistics(build_model(config), seed=seed)
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def test_every_backbone_has_a_deploy_case():
    backbones = {name for name, cls in MODELS.module_dict.items()
                 if getattr(cls, 'switch_to_deploy', None) is not None
                 and 'backbones' in cls.__module__}
    covered = {CLASSIFIERS[name][0]['type'].split('.')[-1] for name in CLASSIFIERS}
    assert backbones, 'no registered backbone found'
    assert backbones <= covered, f'backbones without a deploy test case: {backbones - covered}'


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_classifier_deploy_all_formats(name, tmp_path):
    config = classifier_config(name)
    checkpoint = trained_checkpoint(config, str(tmp_path / 'trained.pth'))
    out = tmp_path / 'out'
    fp16 = name == 'RepLKNet'  # one case checks the float16 CoreML option
    report = deploy(config, checkpoint, str(out), formats=['onnx', 'torchscript', 'coreml'],
                    input_shape=(64, 64), batch_size=2, fp16=fp16)

    # Fusing and the written checkpoint: fused vs unfused, deploy config + fused.pth vs fused.
    assert report['params_after'] <= report['params_before']
    assert report['fuse_relative_difference'] <= TOLERANCE
    assert report['reload_relative_difference'] <= 1e-6
    assert report['outputs'] == {'logits': [2, 10]}
    deploy_cfg = Config.fromfile(str(out / 'deploy_config.py'))
    assert deploy_cfg.model.backbone.deploy is True

    # Independent check of the written files against the unfused model on a new input.
    inputs = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    unfused = build_model(config, checkpoint)
    with torch.no_grad():
        expected = unfused(inputs, mode='tensor')
    reloaded = build_model(str(out / 'deploy_config.py'), str(out / 'fused.pth'))
    with torch.no_grad():
        assert relative_error(reloaded(inputs, mode='tensor'), expected) <= TOLERANCE

    onnx = report['formats']['onnx']
    assert onnx['relative_error'] <= TOLERANCE and 'batch' in onnx['dynamic_axes']
    import onnxruntime as ort
    session = ort.InferenceSession(str(out / 'model.onnx'), providers=['CPUExecutionProvider'])
    onnx_out = session.run(None, {'image': inputs.numpy()})[0]
    assert relative_error(torch.from_numpy(onnx_out), expected) <= TOLERANCE

    torchscript = report['formats']['torchscript']
    assert torchscript['relative_error'] <= TOLERANCE
    traced = torch.jit.load(str(out / 'model.torchscript.pt'))
    with torch.no_grad():
        assert relative_error(traced(inputs)[0], expected) <= TOLERANCE

    coreml = report['formats']['coreml']
    assert coreml['precision'] == ('float16' if fp16 else 'float32')
    assert coreml['inputs'] == {'image': dict(type='image', shape=[64, 64],
                                              color=report['preprocessing']['color'])}
    assert coreml['outputs'] == {'logits': [1, 10]}
    assert coreml['ops'].get('conv', 0) > 0 and coreml['fold_relative_error'] <= TOLERANCE
    assert osp.isdir(out / 'model.mlpackage')
    assert json.loads((out / 'report.json').read_text())['formats'].keys() == {
        'onnx', 'torchscript', 'coreml'}


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_fused_backbone_returns_contiguous_maps(name):
    """mmcv's CPU RoIAlign reads its input as NCHW whatever the strides: a fused backbone that
    returned channels_last maps gave a Mask R-CNN with wrong boxes and the same features."""
    backbone = MODELS.build(CLASSIFIERS[name][0]).eval()
    mmmobile.switch_to_deploy(randomize_bn_statistics(backbone))
    with torch.no_grad():
        outputs = backbone(torch.randn(2, 3, 64, 64))
    assert all(out.is_contiguous() for out in outputs)


def test_fold_normalization_matches_per_channel_std():
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    scale, bias, factors = fold_normalization(mean, std)
    pixels = torch.rand(1, 3, 4, 4) * 255
    folded = (pixels * scale + torch.tensor(bias).view(1, 3, 1, 1)) * torch.tensor(
        factors).view(1, 3, 1, 1)
    expected = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert relative_error(folded, expected) <= 1e-6
    assert fold_normalization([0, 0, 0], [255, 255, 255]) == (1 / 255, [0, 0, 0], None)


def test_cmt_is_static_in_space_and_dynamic_in_batch(tmp_path, capfd):
    """CMT's position bias is resized per input size in Python: ONNX is exported with a static
    H and W (the report says why); the batch axis stays dynamic. onnxruntime's own error log of
    the failed probe stays out of the terminal."""
    config = classifier_config('CMT')
    capfd.readouterr()
    report = deploy(config, None, str(tmp_path / 'out'), formats=['onnx'], input_shape=(64, 64))
    onnx = report['formats']['onnx']
    assert onnx['dynamic_axes'] == ['batch']
    assert onnx['static_axes']['spatial'].startswith('onnxruntime fails at (1, 3, 96, 96): ')
    assert onnx['inputs']['image'] == ['batch', 3, 64, 64]
    captured = capfd.readouterr()
    assert 'onnxruntime' not in captured.err + captured.out


def test_cmt_coreml_off_build_size_names_the_op(tmp_path):
    """At a size other than CMT's build size the bias is resized bicubically, which coremltools
    cannot convert: the error names the operator and nothing is written."""
    config = classifier_config('CMT')
    with pytest.raises(ExportError, match="operator 'upsample_bicubic2d'"):
        deploy(config, None, str(tmp_path / 'out'), formats=['coreml'], input_shape=(96, 96))
    assert not (tmp_path / 'out').exists()
    assert not [p for p in tmp_path.iterdir()]


class _Fold(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple:
        patches = F.unfold(x, 2, stride=2)
        return (F.fold(patches, (8, 8), 2, stride=2), )


def test_unsupported_onnx_operator_is_named(tmp_path):
    with pytest.raises(ExportError, match="operator 'aten::col2im'"):
        export_onnx(_Fold(), torch.rand(1, 3, 8, 8), str(tmp_path / 'fold.onnx'), ['out'],
                    opset=17)
    # Opset 18 has col2im; the fixed fold size makes H and W static (detected, with why).
    report = export_onnx(_Fold(), torch.rand(1, 3, 8, 8), str(tmp_path / 'fold.onnx'), ['out'],
                         opset=18)
    assert report['relative_error'] <= TOLERANCE and report['dynamic_axes'] == ['batch']
    assert 'spatial' in report['static_axes']


def test_dynamo_exporter(tmp_path):
    model = build_model(classifier_config('RepViT'))
    randomize_bn_statistics(model)
    mmmobile.switch_to_deploy(model)
    wrapper = export_wrapper(model)
    report = export_onnx(wrapper, torch.randn(1, 3, 32, 32), str(tmp_path / 'm.onnx'),
                         ['logits'], dynamic=['batch'], exporter='dynamo')
    assert report['relative_error'] <= TOLERANCE and report['dynamic_axes'] == ['batch']
    assert report['inputs']['image'][1:] == [3, 32, 32]


def test_request_errors(tmp_path):
    config = classifier_config('RepViT')
    with pytest.raises(ToolError, match="unknown export format 'tflite'"):
        deploy(config, None, str(tmp_path / 'a'), formats=['onnx', 'tflite'])
    with pytest.raises(ToolError, match='checkpoint not found'):
        deploy(config, str(tmp_path / 'missing.pth'), str(tmp_path / 'a'))
    (tmp_path / 'busy').mkdir()
    (tmp_path / 'busy' / 'model.onnx').write_text('not ours: no manifest lists it')
    with pytest.raises(ToolError, match=r'holds files mmmobile did not write \(model.onnx\)'):
        deploy(config, None, str(tmp_path / 'busy'), input_shape=(32, 32), overwrite=True)
    assert (tmp_path / 'busy' / 'model.onnx').read_text() == 'not ours: no manifest lists it'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['busy']


def test_fuse_checkpoint_is_deploy_without_formats(tmp_path):
    """tools/fuse_ckpt.py's function: fused.pth + deploy_config.py (+ report.json), verified,
    that compute the trained model's function; an existing result is not replaced."""
    config = classifier_config('RepViT')
    checkpoint = trained_checkpoint(config, str(tmp_path / 'trained.pth'))
    out = tmp_path / 'fused'
    report = fuse_checkpoint(config, checkpoint, str(out), input_shape=(64, 64))
    assert sorted(p.name for p in out.iterdir()) == ['.mmmobile-manifest.json',
                                                     'deploy_config.py', 'fused.pth',
                                                     'report.json']
    assert report['formats'] == {} and report['fuse_relative_difference'] <= TOLERANCE
    assert json.loads((out / 'report.json').read_text())['params_after'] == (
        report['params_after'])
    inputs = torch.randn(1, 3, 80, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = build_model(config, checkpoint)(inputs, mode='tensor')
        fused = build_model(str(out / 'deploy_config.py'), str(out / 'fused.pth'))
        assert relative_error(fused(inputs, mode='tensor'), expected) <= TOLERANCE
    before = (out / 'fused.pth').read_bytes()
    with pytest.raises(ToolError, match='already holds results'):
        fuse_checkpoint(config, checkpoint, str(out), input_shape=(64, 64))
    assert (out / 'fused.pth').read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fused', 'trained.pth']


def test_checkpoint_config_mismatch_names_keys(tmp_path):
    m06 = classifier_config('RepViT')
    checkpoint = trained_checkpoint(m06, str(tmp_path / 'm0.6.pth'))
    m09 = classifier_config('RepViT')
    m09.model.backbone.arch = 'm0_9'
    m09.model.head.in_channels = 384
    model = build_model(m09)
    with pytest.raises(ToolError, match=r"does not fit the model: it holds a RepViT arch 'm0_6' "
                       r"backbone; the config builds RepViT arch 'm0_9'; missing keys: backbone\."):
        load_weights(model, checkpoint)
    # A fused checkpoint given with the training config: named, with the hint.
    deploy(m06, checkpoint, str(tmp_path / 'fused'), input_shape=(32, 32))
    with pytest.raises(ToolError, match=r'a fused \(deploy\) checkpoint .* use the '
                       'deploy_config.py'):
        load_weights(build_model(m06), str(tmp_path / 'fused' / 'fused.pth'))


def test_deploy_cli_segmentor_end_to_end(tmp_path):
    """The CLI on the demo segmentor: fused checkpoint + ONNX + TorchScript + CoreML, logits at
    the input size; a second run into the same folder exits non-zero with one message."""
    config = osp.join(REPO_ROOT, 'configs', 'demo', 'fpn_repvit-m0.9_demo-ade20k.py')
    out = tmp_path / 'seg'
    result = run_tool('tools/deploy.py', config, '--out', str(out), '--format', 'onnx',
                      'torchscript', 'coreml', '--shape', '64', '96')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'onnxruntime vs PyTorch relative error' in result.stdout
    report = json.loads((out / 'report.json').read_text())
    assert report['task'] == 'segmentation'
    assert report['outputs'] == {'logits': [1, 3, 64, 96]}
    assert report['formats']['onnx']['relative_error'] <= TOLERANCE
    assert report['formats']['coreml']['outputs'] == {'logits': [1, 3, 64, 96]}
    assert (out / 'model.mlpackage').is_dir() and (out / 'fused.pth').is_file()

    usage = run_tool('tools/deploy.py', '--help')
    assert usage.returncode == 0 and '--format' in usage.stdout

    again = run_tool('tools/deploy.py', config, '--out', str(out), '--shape', '64', '64')
    assert again.returncode == 1 and 'already holds results' in again.stderr
    assert 'Traceback' not in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['seg']


def ssdlite_config() -> Config:
    """A tiny SSDLite detector (mmdet's SSDNeck + depthwise SSDHead) on RepViT-M0.6."""
    return Config(dict(
        default_scope='mmdet',
        model=dict(
            type='SingleStageDetector',
            data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
            backbone=dict(type='mmmobile.RepViT', arch='m0_6', out_indices=(2, 3)),
            neck=dict(type='SSDNeck', in_channels=(160, 320), out_channels=(160, 320, 128, 64),
                      level_strides=(2, 2), level_paddings=(1, 1), l2_norm_scale=None,
                      use_depthwise=True),
            bbox_head=dict(
                type='SSDHead', in_channels=(160, 320, 128, 64), num_classes=3,
                use_depthwise=True,
                anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                                      strides=[16, 32, 64, 128], ratios=[[2, 3]] * 4,
                                      min_sizes=[16, 32, 64, 96], max_sizes=[32, 64, 96, 128]),
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                                target_stds=[0.1, 0.1, 0.2, 0.2])),
            train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                                         neg_iou_thr=0.5, min_pos_iou=0.),
                           sampler=dict(type='PseudoSampler'), smoothl1_beta=1.,
                           allowed_border=-1, pos_weight=-1, neg_pos_ratio=3, debug=False),
            test_cfg=dict(nms_pre=100, nms=dict(type='nms', iou_threshold=0.45),
                          min_bbox_size=0, score_thr=0.02, max_per_img=20))))


def test_ssdlite_detector_exports_head_outputs_before_nms(tmp_path):
    config = ssdlite_config()
    checkpoint = trained_checkpoint(config, str(tmp_path / 'ssd.pth'))
    report = deploy(config, checkpoint, str(tmp_path / 'out'),
                    formats=['onnx', 'torchscript'], input_shape=(128, 128), parts='features')
    assert report['task'] == 'detection'
    names = list(report['outputs'])
    assert names == ([f'feat{i}' for i in range(4)] + [f'cls_score{i}' for i in range(4)]
                     + [f'bbox_pred{i}' for i in range(4)])
    # 6 anchors per position (ratios 2 and 3, both ways, plus two squares), 4 classes with bg.
    assert report['outputs']['cls_score0'] == [1, 6 * 4, 8, 8]
    assert report['outputs']['bbox_pred3'] == [1, 6 * 4, 1, 1]
    assert report['formats']['onnx']['relative_error'] <= TOLERANCE
    assert report['formats']['torchscript']['relative_error'] <= TOLERANCE


def test_two_stage_detector_exports_feature_maps(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'demo', 'mask-rcnn_repvit-m0.9_fpn_demo-coco.py')
    report = deploy(config, None, str(tmp_path / 'out'), formats=['onnx'], input_shape=(64, 64),
                    parts='features')
    assert list(report['outputs']) == [f'feat{i}' for i in range(5)]
    assert report['outputs']['feat0'] == [1, 128, 16, 16]
    assert report['formats']['onnx']['relative_error'] <= TOLERANCE
    assert report['formats']['onnx']['dynamic_axes'] == ['batch', 'spatial']
