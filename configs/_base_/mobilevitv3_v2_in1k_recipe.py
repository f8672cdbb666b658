# The official ImageNet-1K recipe of the MobileViTv2-based MobileViTv3 variants (0.5 / 0.75 / 1.0;
# micronDLA/MobileViTv3 MobileViTv3-v2/config/classification/imagenet/mobilevit_v3_oneserver.py on
# CVNets v0.2) on mmpretrain bases; per-variant values in configs/cls/mobilevitv3/*.py.
# - Input convention: CVNets v0.2 reads images with PIL and feeds RGB in [0, 1] without
#   mean/std, so images are converted to RGB (to_rgb=True) and only divided by 255.
# - 80 images per GPU at a fixed 256x256; AdamW (betas 0.9/0.999), weight decay 0.05 except on
#   1-D parameters and biases (no_decay_bn_filter_bias: true), 20000 linear warm-up iterations
#   from 1e-6, per-epoch cosine from 2e-3 to 2e-4 over 300 epochs counted from epoch 0 (the
#   warm-up multiplies it while it lasts, CVNets replaces it: at 8 x 80 images the warm-up
#   spans 10 epochs and the two differ by < 0.2 % of the lr),
#   gradient-norm clipping at 10, cross-entropy with label smoothing 0.1, EMA of weights and
#   buffers (CVNets ema = (1 - 5e-4) * ema + 5e-4 * model every iteration = mmengine momentum 5e-4).
# - Augmentation: bicubic RandomResizedCrop 256, horizontal flip, RandAugment, random erasing
#   (p 0.25, black fill as torchvision's on [0, 1] tensors), mixup (alpha 0.2) or cutmix (alpha 1.0)
#   per batch; evaluation resizes the short side to 288 (bicubic) and centre-crops 256.
# Differences: CVNets uses torchvision's RandAugment (2 ops, magnitude 9 of 31 bins); here
# mmpretrain's timm op set at the same relative magnitude (9/30, no magnitude noise). Mixed
# precision as CVNets (torch AMP; without CUDA mmmobile's tools train in fp32); channels_last (a
# speed option) is off; no repeated augmentation, as the yaml. The yaml gives images per GPU, not
# the GPU count; 8 GPUs are assumed in the names and the official lr is used unscaled (CVNets
# does not scale it).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

data_preprocessor = dict(num_classes=1000, mean=[0., 0., 0.], std=[255., 255., 255.], to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=30,
        magnitude_level=9,
        magnitude_std=0.,
        hparams=dict(pad_val=0, interpolation='bilinear')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='const',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=(0, 0, 0)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=288, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=80, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=80, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))
# mmengine's LinearLR reaches its end factor at step end - 1: end=20001 ramps over 20000 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=False, begin=0,
         end=20001),
    dict(type='CosineAnnealingLR', eta_min=2e-4, by_epoch=True, begin=0, end=300, T_max=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=640)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [
    dict(type='mmmobile.SafeCheckpointHook'),
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
]
