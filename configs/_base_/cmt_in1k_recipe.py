# The official CMT ImageNet-1K recipe (DeiT-style trainer of huawei-noah/Efficient-AI-Backbones
# cmt_pytorch/train.py; per-variant values in configs/cls/cmt/*.py) on mmpretrain bases:
# mixed precision (the README commands use apex AMP; here torch AMP with a dynamic loss scale),
# AdamW (eps 1e-8, no weight decay on norms/biases; the relative position biases are decayed as
# in timm's optimizer factory), 20 linear warm-up epochs then cosine, RandAugment
# rand-m9-mstd0.5-inc1, random erasing 0.25 (per-pixel noise), mixup 0.8 / cutmix 1.0 (switch
# prob 0.5), label smoothing 0.1, repeated augmentation (3 repeats), no gradient clipping
# (train.py's --clip-grad defaults to None), bicubic RandomResizedCrop for training and bicubic
# resize-short-side int(256 / 224 * res) + centre-crop res for evaluation. The learning rate is
# linearly scaled by total batch / 512. Model EMA (every iteration, buffers included) is set per
# variant: decay 0.99996 for S and B, 0.9998 for XS, none for Ti (--no-model-ema).
# Differences from the official trainer: the learning rate changes per iteration (timm steps it
# per epoch), the cosine starts after the warm-up (timm counts it from epoch 0), mmengine's
# EMAHook validates and saves the EMA weights (which copy gave the published top-1 is not
# documented), and without CUDA mmmobile's tools train in fp32 (AmpOptimWrapper -> OptimWrapper).
# Colour jitter 0.4 is inactive in timm when RandAugment is used, so it is not added.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(sampler=dict(type='RepeatAugSampler', shuffle=True))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))

train_cfg = dict(by_epoch=True, val_interval=1)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
