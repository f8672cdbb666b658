# CMT-B on ImageNet-1K at its native 256x256 with the official recipe (cmt_pytorch README command +
# train.py defaults; shared parts in configs/_base_/cmt_in1k_recipe.py): 8 GPUs x 64 images, 300
# epochs, AdamW lr 5e-4 per 512 images -> 5e-4 * 512 / 512, weight decay 0.05, 20 warm-up epochs
# from 1e-6, cosine to 2e-5, drop path 0.25, classifier dropout 0.3, EMA of the weights (decay
# 0.99996). Official checkpoint top-1: 84.5. Built at img_size=256, the resolution of the released
# checkpoint.
_base_ = [
    '../../_base_/models/cmt-s_in1k.py',
    '../../_base_/cmt_in1k_recipe.py',
]

model = dict(
    backbone=dict(arch='b', img_size=256, drop_path_rate=0.25),
    head=dict(in_channels=608, dropout_rate=0.3))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=292, edge='short', backend='pillow',
         interpolation='bicubic'),  # int(256 / 224 * 256)
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-4 * 512 / 512, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / (5e-4 * 512 / 512), by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-5, by_epoch=True, begin=20, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
auto_scale_lr = dict(base_batch_size=512)
# timm ModelEma (decay 0.99996, every iteration, buffers included) -> EMAHook momentum 1 - decay.
custom_hooks = [
    dict(type='mmmobile.SafeCheckpointHook'),
    dict(type='EMAHook', momentum=4e-5, update_buffers=True, priority='ABOVE_NORMAL'),
]
