"""Every config under configs/ builds its model; det/seg configs run one loss and one predict step."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import PixelData

from .conftest import REPO_ROOT

CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT)
    for path in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in path)


def build_from_config(path: str):
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg, revert_sync_batchnorm(MODELS.build(model_cfg))


def task_of(cfg) -> str:
    return {'mmpretrain': 'cls', 'mmdet': 'det', 'mmseg': 'seg'}[cfg.default_scope]


def test_configs_are_found():
    tasks = {path.split(osp.sep)[1] for path in CONFIGS}
    assert {'cls', 'det', 'seg', 'demo'} <= tasks
    assert osp.join('configs', 'det', 'repvit_maskrcnn.py') in CONFIGS
    deploy = [osp.basename(p) for p in CONFIGS if 'deploy' in p]
    assert len([p for p in deploy if p.startswith('repvit')]) == 6
    assert len([p for p in deploy if p.startswith('cmt')]) == 4
    assert len([p for p in deploy if p.startswith('replknet')]) == 4
    assert len([p for p in deploy if p.startswith('mobilevitv3')]) == 9


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path):
    cfg, model = build_from_config(path)
    backbones = [m for m in model.modules() if type(m).__module__.startswith('mmmobile.')]
    assert backbones, f'{path} builds no mmmobile module'
    expect_deploy = 'deploy' in osp.basename(path)
    assert getattr(model.backbone, 'deploy') == expect_deploy
    if task_of(cfg) == 'cls':
        assert cfg.model.head.in_channels == model.backbone.out_channels[-1]
        assert cfg.train_dataloader.dataset.data_root.endswith(
            'imagenet') or 'demo' in path


def _det_batch(num_classes: int, batch_size: int = 1):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=batch_size, image_shapes=[(3, 96, 128)] * batch_size,
                          num_items=[2] * batch_size, num_classes=num_classes, with_mask=True)


def _seg_batch(num_classes: int, batch_size: int = 2):
    # Two images: UperNet's pooling branch normalizes 1x1 maps, which needs more than one value.
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, 96, 128), generator=generator,
                                    dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128),
                                             pad_shape=(96, 128)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, 96, 128), generator=generator))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _is_dense(path: str) -> bool:
    return Config.fromfile(osp.join(REPO_ROOT, path)).default_scope in ('mmdet', 'mmseg')


DENSE = [path for path in CONFIGS if _is_dense(path)]


@pytest.mark.parametrize('path', DENSE)
def test_dense_config_loss_and_predict(path):
    torch.manual_seed(0)
    cfg, model = build_from_config(path)
    if task_of(cfg) == 'det':
        head = cfg.model.roi_head.bbox_head if 'roi_head' in cfg.model else cfg.model.bbox_head
        head = head[0] if isinstance(head, list) else head  # cascade: one head per stage
        # Two images for SSD: its last levels are 1x1 maps here, and BN needs more than one value.
        batch_size = 2 if cfg.model.get('neck', {}).get('type') == 'SSDNeck' else 1
        batch = _det_batch(head.num_classes, batch_size)
    else:
        num_classes = cfg.model.decode_head.num_classes
        batch = _seg_batch(num_classes)
        model.data_preprocessor.size = (96, 128)  # keep the tiny input tiny
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        results = model(**data, mode='predict')
    assert len(results) == len(batch['inputs'])
    if task_of(cfg) == 'det':
        with_masks = 'roi_head' in cfg.model and cfg.model.roi_head.get('mask_head') is not None
        assert ('masks' in results[0].pred_instances) == with_masks
        assert 'bboxes' in results[0].pred_instances
    else:
        assert results[0].pred_sem_seg.data.shape[-2:] == (96, 128)
