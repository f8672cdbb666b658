"""MobileViTv3 configs: input convention, official weights, pretrained init, recipe schedules."""
import copy
import functools
import glob
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import ExponentialMovingAverage, revert_sync_batchnorm
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
from mmengine.registry import MODELS, init_default_scope

from mmmobile import convert_checkpoint
from mmmobile.models import MobileViTv3
from mmmobile.utils import relative_error
from .conftest import REPO_ROOT
from .test_models.utils import count_parameters, official_fixture

MOBILEVITV3_CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT)
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '**', '*mobilevitv3*.py'),
                          recursive=True)
    if '_base_' not in path and 'deploy' not in osp.basename(path))
CLS_V1 = 'configs/cls/mobilevitv3/mobilevitv3-xxs_8xb64-300e_in1k.py'
CLS_V2 = 'configs/cls/mobilevitv3/mobilevitv3-0.5_8xb80-300e_in1k.py'


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Config:
    """The parsed config (cached: resolving the toolboxes' base configs is slow); read only."""
    return Config.fromfile(osp.join(REPO_ROOT, path))


def _classifier(path: str) -> nn.Module:
    cfg = _load(path)
    init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return revert_sync_batchnorm(MODELS.build(model_cfg))


def _data_preprocessor(cfg: Config) -> nn.Module:
    init_default_scope(cfg.default_scope)
    preprocessor = cfg.model.get('data_preprocessor')
    if preprocessor is None:  # mmpretrain configs keep it at the top level
        preprocessor = dict(type='ClsDataPreprocessor', **cfg.data_preprocessor)
    return MODELS.build(copy.deepcopy(preprocessor))


def test_every_task_has_mobilevitv3_configs():
    names = [osp.basename(p) for p in MOBILEVITV3_CONFIGS]
    assert len([n for n in names if n.startswith('mobilevitv3-')]) == 9
    for variant in ('s', 'xs', 'xxs', '1.0', '0.75', '0.5'):
        assert any(n.startswith(f'ssdlite_mobilevitv3-{variant}_') for n in names), variant
    for variant in ('1.0', '0.75', '0.5'):
        assert any(n.startswith(f'deeplabv3_mobilevitv3-{variant}_') for n in names), variant
    assert any(n.startswith('mask-rcnn_mobilevitv3-s_') for n in names)
    assert any(n.startswith('fpn_mobilevitv3-') for n in names)
    assert any(n.startswith('upernet_mobilevitv3-') for n in names)


@pytest.mark.parametrize('path', MOBILEVITV3_CONFIGS)
def test_preprocessor_reproduces_official_input_convention(path):
    """A uint8 BGR image (as mmcv loads it) -> BGR [0, 1] for v1-based, RGB [0, 1] for v2-based."""
    cfg = _load(path)
    arch = MobileViTv3.arch_settings[cfg.model.backbone.arch]
    preprocessor = _data_preprocessor(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    bgr = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=generator)
    out = preprocessor(dict(inputs=[bgr], data_samples=None), False)['inputs'][0, :, :32, :32]
    expected = bgr if arch['base'] == 'v1' else bgr.flip(0)
    torch.testing.assert_close(out, expected.float() / 255, rtol=0, atol=1e-6)


@pytest.mark.parametrize('path,name', [(CLS_V1, 'mobilevitv3-xxs'), (CLS_V2, 'mobilevitv3-0.5')])
def test_official_weights_give_official_logits(official_fixtures, tmp_path, path, name):
    """Converted official checkpoint, loaded strictly into the config's model -> official logits."""
    entry, expected = official_fixture(official_fixtures, name)
    dst = tmp_path / f'{name}.pth'
    convert_checkpoint('mobilevitv3', osp.join(official_fixtures, entry['checkpoint']), str(dst))

    model = _classifier(path)
    assert count_parameters(model) == entry['official_params']
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(expected['input'], mode='tensor')
    assert relative_error(logits, expected['logits']) <= 1e-4


@pytest.mark.parametrize('path,name', [
    ('configs/det/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320.py', 'mobilevitv3-xxs'),
    ('configs/seg/deeplabv3_mobilevitv3-0.5_4xb4-152k_ade20k-512x512.py', 'mobilevitv3-0.5'),
])
def test_dense_configs_initialise_from_converted_weights(official_fixtures, tmp_path, path,
                                                         name):
    """init_cfg (prefix 'backbone.') fills every backbone tensor; conv_1x1_exp stays out."""
    entry, _ = official_fixture(official_fixtures, name)
    dst = tmp_path / f'{name}.pth'
    convert_checkpoint('mobilevitv3', osp.join(official_fixtures, entry['checkpoint']), str(dst))
    converted = torch.load(dst, weights_only=True)['state_dict']

    cfg = _load(path)
    assert cfg.model.backbone.init_cfg.checkpoint == f'checkpoints/{name}_in1k.pth'
    init_default_scope(cfg.default_scope)
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg.init_cfg.checkpoint = str(dst)
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    state = backbone.state_dict()
    assert not any(key.startswith('final_conv.') for key in state)
    for key, value in state.items():
        torch.testing.assert_close(value, converted[f'backbone.{key}'], rtol=0, atol=0)


def _cvnets_lr(iteration: int, iters_per_epoch: int, warmup_iters: int, warmup_init: float,
               max_lr: float, min_lr: float, max_epochs: int) -> float:
    """CVNets' cosine scheduler: linear warm-up per iteration, then a per-epoch cosine."""
    if iteration < warmup_iters:
        return warmup_init + iteration * (max_lr - warmup_init) / warmup_iters
    epoch = iteration // iters_per_epoch
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * epoch / max_epochs))


@pytest.mark.parametrize('path,official', [
    # ImageNet at the assumed 8 GPUs: ceil(1281167 / 256) = 5005 and ceil(1281167 / 640) = 2002
    # iterations per epoch.
    (CLS_V1, dict(iters_per_epoch=5005, warmup_iters=3000, warmup_init=2e-4, max_lr=2e-3,
                  min_lr=2e-4, max_epochs=300)),
    (CLS_V2, dict(iters_per_epoch=2002, warmup_iters=20000, warmup_init=1e-6, max_lr=2e-3,
                  min_lr=2e-4, max_epochs=300)),
    # COCO train2017 images with boxes at 4 x 32: ceil(117266 / 128) = 917 iterations per epoch.
    ('configs/det/ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py',
     dict(iters_per_epoch=917, warmup_iters=500, warmup_init=9e-5, max_lr=4e-3, min_lr=1e-6,
          max_epochs=200)),
])
def test_schedule_follows_cvnets(path, official):
    """The config's warm-up + cosine stays within 0.2 % of CVNets' lr along the whole run.

    CVNets replaces the per-epoch cosine by the warm-up; mmengine multiplies both, which only
    differs once the warm-up spans several epochs (v2-based: 20000 iterations = 10 epochs).
    """
    cfg = _load(path)
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for scheduler_cfg in cfg.param_scheduler:
        scheduler_cfg = dict(scheduler_cfg)
        scheduler_type = {'LinearLR': LinearLR,
                          'CosineAnnealingLR': CosineAnnealingLR}[scheduler_cfg.pop('type')]
        schedulers.append(scheduler_type(optimizer, **scheduler_cfg))
    iters_per_epoch = official['iters_per_epoch']

    def check(iteration):
        reference = _cvnets_lr(iteration, **official)
        assert abs(optimizer.param_groups[0]['lr'] - reference) <= 2e-3 * reference, iteration

    # Every iteration through the warm-up and two more epochs, then epoch by epoch (past their
    # end, the iteration-based schedulers no longer change the lr).
    warmup_epochs = official['warmup_iters'] // iters_per_epoch + 2
    for iteration in range(warmup_epochs * iters_per_epoch):
        check(iteration)
        for scheduler in schedulers:
            if not scheduler.by_epoch or (iteration + 1) % iters_per_epoch == 0:
                scheduler.step()
    for epoch in range(warmup_epochs, official['max_epochs']):
        check(epoch * iters_per_epoch)
        for scheduler in schedulers:
            if scheduler.by_epoch:
                scheduler.step()


@pytest.mark.parametrize('path', [p for p in MOBILEVITV3_CONFIGS
                                  if not osp.basename(p).startswith(('mask-rcnn', 'fpn',
                                                                     'upernet'))])
def test_ema_matches_cvnets_momentum_convention(path):
    """CVNets: ema = (1 - m) * ema + m * model with m = 5e-4 every iteration, buffers included."""
    hooks = [h for h in _load(path).custom_hooks if h['type'] == 'EMAHook']
    assert len(hooks) == 1 and hooks[0]['update_buffers']
    model = nn.BatchNorm1d(4)
    ema = ExponentialMovingAverage(model, momentum=hooks[0]['momentum'], update_buffers=True)
    ema.update_parameters(model)  # the first call copies the model (CVNets: deepcopy)
    averaged = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.weight.add_(1.)
        model.running_mean.add_(2.)
    ema.update_parameters(model)
    for key in ('weight', 'running_mean'):
        reference = averaged[key] * (1 - 5e-4) + 5e-4 * model.state_dict()[key]
        torch.testing.assert_close(ema.module.state_dict()[key], reference)


@pytest.mark.parametrize('path', [
    CLS_V1, CLS_V2, 'configs/det/ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320.py',
    'configs/seg/deeplabv3_mobilevitv3-1.0_4xb4-152k_ade20k-512x512.py'])
def test_pipelines_run(path):
    """Train and test pipelines (after loading) build and give the recipe's input size."""
    import numpy as np
    from mmengine.dataset import Compose
    from mmengine.registry import TRANSFORMS
    cfg = _load(path)
    init_default_scope(cfg.default_scope)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    size = {'mmpretrain': 256, 'mmdet': 320, 'mmseg': 512}[cfg.default_scope]
    for loader in ('train_dataloader', 'val_dataloader'):
        pipeline = Compose([TRANSFORMS.build(t) for t in cfg[loader].dataset.pipeline
                            if t['type'] not in ('LoadImageFromFile', 'LoadAnnotations')])
        results = dict(img=image.copy(), img_shape=image.shape[:2], ori_shape=image.shape[:2],
                       img_path='demo.jpg', img_id=0, gt_label=1)
        if cfg.default_scope == 'mmdet':
            from mmdet.structures.bbox import HorizontalBoxes
            results.update(gt_bboxes=HorizontalBoxes(torch.tensor([[10., 20., 200., 250.]])),
                           gt_bboxes_labels=np.array([1]), gt_ignore_flags=np.array([False]))
        if cfg.default_scope == 'mmseg':
            results.update(gt_seg_map=rng.integers(0, 150, (300, 400), dtype=np.uint8),
                           seg_fields=['gt_seg_map'], reduce_zero_label=True)
        shape = tuple(pipeline(results)['inputs'].shape)
        if cfg.default_scope == 'mmseg' and loader == 'train_dataloader':
            # Random crops of small rescaled images stay smaller; the preprocessor pads them.
            assert shape[0] == 3 and max(shape[1:]) <= size
        else:
            assert shape == (3, size, size), loader
