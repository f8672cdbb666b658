# RepViT Semantic FPN on the synthetic demo ADE20K layout (data/demo/ade/ADEChallengeData2016:
# 3 classes, label 0 = background is ignored as ADE20K's "other"). Inherits the official-recipe
# config and changes only data paths and classes (BaseSegDataset: ADE20KDataset accepts only its
# own 150 class names), image size (128 instead of 512), the schedule (400 iterations, AdamW
# lr 1e-3) and, for CPU time, the backbone variant (M0.9) and FPN width (128). From random
# initialisation the BN statistics are learnt (norm_eval=False, no pretrained weights).
_base_ = '../seg/fpn_repvit-m1.1_8xb4-40k_ade20k-512x512.py'

data_root = 'data/demo/ade/ADEChallengeData2016'
metainfo = dict(classes=('circle', 'square', 'triangle'),
                palette=[[220, 20, 60], [0, 130, 200], [60, 180, 75]])
crop_size = (128, 128)
max_iters = 400

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='m0_9', norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[48, 96, 192, 384], out_channels=128),
    decode_head=dict(in_channels=[128, 128, 128, 128], channels=64, num_classes=3))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        dataset, data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(
        dataset, data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-6, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
