# RepLKNet-31B, ImageNet-1K from scratch at 224x224: the official recipe (DingXiaoH/RepLKNet-pytorch
# README, "Pretrain RepLKNet-31B on ImageNet-1K"; top-1 83.5) on mmpretrain bases.
# - 32 GPUs x 64 images = 2048 per step (single machine: 8 x 64 with --update_freq 4, i.e.
#   optim_wrapper.accumulative_counts=4). With another total batch, run tools/train.py
#   --auto-scale-lr: the learning rate scales linearly from 4e-3 at 2048 images.
# - AdamW lr 4e-3, weight decay 0.05 without decay on biases, norms and other 1-D parameters;
#   10 linear warm-up epochs from ~0, then cosine to 1e-6 at epoch 300, updated per iteration.
# - Drop path 0.5; RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, bicubic
#   RandomResizedCrop; mixup 0.8 / cutmix 1.0; label smoothing 0.1; EMA 0.9999 (the EMA weights
#   are evaluated and saved, as --model_ema_eval); SyncBN across GPUs (the official default).
# - Evaluation: bicubic resize of the short side to 256, centre crop 224, ImageNet mean/std.
# Colour jitter 0.4 is inactive in timm when RandAugment is used, so it is not added.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmmobile.RepLKNet',
        arch='31B',
        out_indices=(3, ),
        final_norm=True,  # the official classifier's BN before pooling
        drop_path_rate=0.5),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        init_cfg=None,  # PyTorch's default Linear init, as the official code
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=2048)

sync_bn = 'torch'  # used by mmengine only in distributed runs
custom_hooks = [
    dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'),
    # Checkpoints that torch's weights_only loading accepts, so --resume works with any tool.
    dict(type='mmmobile.SafeCheckpointHook'),
]
