# The official ImageNet-1K recipe of the MobileViTv1-based MobileViTv3 variants (XXS / XS / S and
# their -L2 twins; micronDLA/MobileViTv3 MobileViTv3-v1/config/classification/*_oneserver.yaml on
# CVNets v0.1) on mmpretrain bases; per-variant values in configs/cls/mobilevitv3/*.py.
# - Input convention: CVNets v0.1 reads images with OpenCV and feeds BGR in [0, 1] without
#   mean/std, so images stay BGR (cv2 loading, to_rgb=False) and are only divided by 255.
# - AdamW (betas 0.9/0.999), weight decay 0.01 on every parameter (no_decay_bn_filter_bias: false),
#   3000 linear warm-up iterations from 2e-4, per-epoch cosine from 2e-3 to 2e-4 over 300 epochs
#   counted from epoch 0 (the warm-up multiplies it while it lasts; CVNets replaces it, identical
#   while the warm-up stays inside epoch 0), label smoothing 0.1, EMA of weights and buffers
#   (CVNets ema = (1 - 5e-4) * ema + 5e-4 * model every iteration = mmengine momentum 5e-4).
# - Augmentation: bilinear RandomResizedCrop 256 and horizontal flip only; evaluation resizes the
#   short side to 256 + 32 = 288 (bilinear) and centre-crops 256.
# Not reproduced: CVNets' multi-scale variable-batch sampler (5 crop sizes in 160-320, divisible
# by 32, batch scaled with the crop area); training here is at a fixed 256x256. Mixed precision
# as CVNets (torch AMP; without CUDA mmmobile's tools train in fp32). No gradient clipping and no
# repeated augmentation, as the yaml. The yaml gives images per GPU, not the GPU count; 8 GPUs
# are assumed in the names, the official lr is used unscaled (CVNets does not scale it).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]

data_preprocessor = dict(num_classes=1000, mean=[0., 0., 0.], std=[255., 255., 255.], to_rgb=False)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, backend='cv2', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=288, edge='short', backend='cv2', interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01))
# mmengine's LinearLR reaches its end factor at step end - 1: end=3001 ramps over 3000 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=2e-4 / 2e-3, by_epoch=False, begin=0, end=3001),
    dict(type='CosineAnnealingLR', eta_min=2e-4, by_epoch=True, begin=0, end=300, T_max=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [
    dict(type='mmmobile.SafeCheckpointHook'),
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
]
