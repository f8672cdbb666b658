"""The ImageNet recipes resolve to the official hyper-parameters.

RepViT: THU-MIG/RepViT main.py / engine.py defaults (../shared/reference/repvit.md section 7);
CMT: cmt_pytorch train.py + README commands (cmt.md section 8); MobileViTv3: the CVNets yaml files
(mobilevitv3.md).
"""
import copy
import functools
import glob
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

from mmmobile.engine import apply_cpu_fallbacks
from .conftest import REPO_ROOT

REPVIT_VARIANTS = ('m0.6', 'm0.9', 'm1.0', 'm1.1', 'm1.5', 'm2.3')
REPVIT_WIDTHS = {'m0.6': 320, 'm0.9': 384, 'm1.0': 448, 'm1.1': 512, 'm1.5': 512, 'm2.3': 640}

#: The official RepViT recipe (repvit.md section 7; main.py argument defaults).
REPVIT_OFFICIAL = {
    'images per GPU': 256,                      # --batch-size 256, 8 GPUs
    'lr': 1e-3 * 256 * 8 / 512,                 # --lr 1e-3, scaled by batch / 512
    'weight decay': 0.025,                      # --weight-decay
    'AdamW eps': 1e-8,                          # --opt-eps
    'no decay on 1-D params and biases': True,  # timm create_optimizer (filter_bias_and_bn)
    'epochs': 300,                              # --epochs
    # --sched cosine --warmup-epochs 5 --warmup-lr 1e-6 --min-lr 1e-5, stepped per epoch
    'lr per epoch within 0.05 % of timm': True,
    'gradient clipping': ('agc', 0.02),         # --clip-mode agc --clip-grad 0.02
    'AMP': True,                                # torch.cuda.amp.autocast + NativeScaler
    'EMA decay per iteration': 0.99996,         # --model-ema-decay, model_ema.update each step
    'EMA over buffers': True,                   # timm ModelEma averages the state dict
    'repeated augmentation repeats': 3,         # --repeated-aug, DeiT RASampler(num_repeats=3)
    'RandAugment': ('timm_increasing', 2, 9, 10, 0.5),  # rand-m9-mstd0.5-inc1
    'random erasing': (0.25, 'rand'),           # --reprob 0.25 --remode pixel
    'mixup / cutmix alpha': (0.8, 1.0),         # --mixup 0.8 --cutmix 1.0
    'label smoothing': 0.1,                     # --smoothing 0.1
    'train crop / interpolation': (224, 'bicubic'),
    'eval resize / crop': (256, 224),           # resize int(256 / 224 * 224), centre crop
    'drop path': 0.0,                           # never set in model/repvit.py
    'distillation (mode, alpha, tau)': ('hard', 0.5, 1.0),  # --distillation-*
    'teacher': 'regnety_160',                   # --teacher-model
    'teacher weights': 'regnety_160-a5fe301d.pth',  # --teacher-path (DeiT)
}
NO_TEACHER = {'distillation (mode, alpha, tau)': None, 'teacher': None, 'teacher weights': None}


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, path))


def timm_cosine_lr(epoch: int, lr=4e-3, warmup_epochs=5, warmup_lr=1e-6, min_lr=1e-5,
                   epochs=300) -> float:
    """timm CosineLRScheduler(t_initial=epochs, warmup_t=warmup_epochs, ...) at an epoch."""
    if epoch < warmup_epochs:
        return warmup_lr + epoch * (lr - warmup_lr) / warmup_epochs
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * epoch / epochs))


def lr_per_epoch(cfg: Config) -> list:
    """The lr of every epoch under the config's (per-epoch) schedulers."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = []
    for scheduler_cfg in cfg.param_scheduler:
        scheduler_cfg = dict(scheduler_cfg)
        assert scheduler_cfg['by_epoch'] and not scheduler_cfg.get('convert_to_iter_based')
        scheduler_type = {'LinearLR': LinearLR,
                          'CosineAnnealingLR': CosineAnnealingLR}[scheduler_cfg.pop('type')]
        schedulers.append(scheduler_type(optimizer, **scheduler_cfg))
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def load(path: str) -> Config:
    return copy.deepcopy(_load(path))


def transform(pipeline, name):
    (step, ) = [step for step in pipeline if step['type'] == name]
    return step


def ema_hook(cfg):
    hooks = [hook for hook in cfg.get('custom_hooks', []) if hook['type'] == 'EMAHook']
    return hooks[0] if hooks else None


def resolve_repvit(cfg: Config) -> dict:
    """Read the official recipe's items out of a config."""
    wrapper, optimizer = cfg.optim_wrapper, cfg.optim_wrapper.optimizer
    lrs = lr_per_epoch(cfg)
    train, test = cfg.train_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline
    rand_augment = transform(train, 'RandAugment')
    erasing = transform(train, 'RandomErasing')
    augments = {a['type']: a['alpha'] for a in cfg.model.train_cfg.augments}
    ema = ema_hook(cfg)
    paramwise = wrapper.paramwise_cfg
    clip = wrapper.get('clip_grad') or {}
    distilled = cfg.model.type == 'mmmobile.DistillationClassifier'
    teacher = Config.fromfile(cfg.model.teacher).model if distilled else None
    assert cfg.auto_scale_lr.base_batch_size == 8 * cfg.train_dataloader.batch_size
    assert wrapper.constructor == 'mmmobile.AGCOptimWrapperConstructor'
    return {
        'images per GPU': cfg.train_dataloader.batch_size,
        'lr': optimizer.lr,
        'weight decay': optimizer.weight_decay,
        'AdamW eps': optimizer.eps if optimizer.type == 'AdamW' else None,
        'no decay on 1-D params and biases': paramwise.get('flat_decay_mult') == 0 and
        paramwise.get('bias_decay_mult') == 0,
        'epochs': cfg.train_cfg.max_epochs,
        'lr per epoch within 0.05 % of timm': all(
            abs(lr - timm_cosine_lr(epoch)) <= 5e-4 * timm_cosine_lr(epoch)
            for epoch, lr in enumerate(lrs)),
        'gradient clipping': (clip.get('type'), clip.get('clip_factor')),
        'AMP': wrapper.type == 'AmpOptimWrapper',
        'EMA decay per iteration': round(1 - ema.momentum, 10) if ema.get('interval', 1) == 1
        else None,
        'EMA over buffers': ema.update_buffers,
        'repeated augmentation repeats': cfg.train_dataloader.sampler.get('num_repeats', 3)
        if cfg.train_dataloader.sampler.type == 'RepeatAugSampler' else 1,
        'RandAugment': (rand_augment.policies, rand_augment.num_policies,
                        rand_augment.magnitude_level, rand_augment.total_level,
                        rand_augment.magnitude_std),
        'random erasing': (erasing.erase_prob, erasing.mode),
        'mixup / cutmix alpha': (augments['Mixup'], augments['CutMix']),
        'label smoothing': cfg.model.head.loss.label_smooth_val,
        'train crop / interpolation': (transform(train, 'RandomResizedCrop').scale,
                                       transform(train, 'RandomResizedCrop').interpolation),
        'eval resize / crop': (transform(test, 'ResizeEdge').scale,
                               transform(test, 'CenterCrop').crop_size),
        'drop path': cfg.model.backbone.get('drop_path_rate', 0.0),
        'distillation (mode, alpha, tau)': (cfg.model.distill_mode, cfg.model.alpha,
                                            cfg.model.tau) if distilled else None,
        'teacher': teacher.model_name if distilled else None,
        'teacher weights': osp.basename(cfg.model.teacher_ckpt) if distilled else None,
    }


@pytest.mark.parametrize('variant', REPVIT_VARIANTS)
@pytest.mark.parametrize('teacher', [True, False], ids=['distilled', 'no-teacher'])
def test_repvit_configs_resolve_to_the_official_recipe(variant, teacher):
    name = f'repvit-{variant}' + ('' if teacher else '-no-teacher') + '_8xb256-300e_in1k.py'
    cfg = load(f'configs/cls/repvit/{name}')
    expected = dict(REPVIT_OFFICIAL, **({} if teacher else NO_TEACHER))
    got = resolve_repvit(cfg)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert cfg.model.backbone.arch == variant.replace('.', '_')
    assert cfg.model.head.in_channels == REPVIT_WIDTHS[variant]
    assert cfg.model.head.distillation  # the official twin head, in both configs


def test_every_repvit_classification_config_is_covered():
    names = {osp.basename(p) for p in glob.glob(osp.join(REPO_ROOT, 'configs/cls/repvit/*.py'))}
    assert names == {f'repvit-{v}{t}_8xb256-300e_in1k.py' for v in REPVIT_VARIANTS
                     for t in ('', '-no-teacher')}


def test_repvit_recipe_builds_agc_after_the_cpu_fallback():
    """On CPU the tools turn the AMP wrapper into fp32; AGC 0.02 stays on."""
    adaptive_clip_grad = pytest.importorskip('timm.utils.agc').adaptive_clip_grad
    cfg = load('configs/cls/repvit/repvit-m0.9_8xb256-300e_in1k.py')
    apply_cpu_fallbacks(cfg, cuda_available=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert optim_wrapper.clip_func is adaptive_clip_grad
    assert optim_wrapper.clip_grad_kwargs == dict(clip_factor=0.02, eps=1e-3, norm_type=2.0)
    groups = {id(p): g['weight_decay'] for g in optim_wrapper.optimizer.param_groups
              for p in g['params']}
    assert [groups[id(p)] for p in model.parameters()] == [0.025, 0.0, 0.0, 0.0]


def test_cmt_recipe():
    """cmt.md section 8 (EMA is per variant, checked with the CMT configs)."""
    cfg = load('configs/_base_/cmt_in1k_recipe.py')
    assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'  # repeated augmentation
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'  # the README commands use apex AMP
    assert cfg.optim_wrapper.get('clip_grad') is None  # train.py: --clip-grad None


@pytest.mark.parametrize('family,clip', [('v1', None), ('v2', 10.0)])
def test_mobilevitv3_recipe(family, clip):
    cfg = load(f'configs/_base_/mobilevitv3_{family}_in1k_recipe.py')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'  # common.mixed_precision: true
    assert (cfg.optim_wrapper.get('clip_grad') or {}).get('max_norm') == clip  # common.grad_clip
    ema = ema_hook(cfg)
    assert ema.momentum == 5e-4 and ema.update_buffers  # ema.momentum: 0.0005
    # sampler: variable_batch_sampler (v1) / batch_sampler (v2), no repeated augmentation
    assert cfg.train_dataloader.sampler.type == 'DefaultSampler'
