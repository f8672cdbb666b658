# The official RepViT ImageNet-1K recipe (THU-MIG/RepViT main.py defaults) on mmpretrain bases:
# 8 GPUs x 256 images, AdamW (lr 1e-3 per 512 images -> 4e-3, weight decay 0.025, no decay on
# norms/biases as timm), 5 warm-up epochs from 1e-6 then cosine to 1e-5 over 300 epochs,
# RandAugment m9-mstd0.5-inc1, random erasing 0.25, mixup 0.8 / cutmix 1.0, label smoothing 0.1,
# bicubic resize-256 / centre-crop-224 evaluation.
# Not reproduced: hard distillation from a RegNetY-160 teacher (both heads learn the labels here),
# adaptive gradient clipping (AGC 0.02; mmengine has no AGC), repeated augmentation.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3 * 2048 / 512, weight_decay=0.025, eps=1e-8),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=2048)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
