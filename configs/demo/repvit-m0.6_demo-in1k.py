# RepViT-M0.6 classifier on the synthetic demo ImageNet layout (data/demo/imagenet, 3 classes,
# 64x64 images). Inherits the official-recipe config without a teacher and changes only data
# paths, image size (64 instead of 224), classes (3), schedule (10 epochs, 1 warm-up epoch, lr 2e-3
# for batch 32), the batch size, fp32 (a CPU demo) and no EMA (the recipe's decay 0.99996 per
# iteration averages over ~25k iterations; the demo runs ~100).
_base_ = '../cls/repvit/repvit-m0.6-no-teacher_8xb256-300e_in1k.py'

data_root = 'data/demo/imagenet'
classes = ('circle', 'square', 'triangle')
model = dict(head=dict(num_classes=len(classes), topk=(1, )))
data_preprocessor = dict(num_classes=len(classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=10),
]
train_cfg = dict(max_epochs=10, val_interval=5)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
