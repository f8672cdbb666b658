# The official RepViT ImageNet-1K recipe (THU-MIG/RepViT main.py / engine.py defaults) on
# mmpretrain bases; tests/test_recipes.py checks every RepViT config against it.
# - 8 GPUs x 256 images, mixed precision (AMP), AdamW (lr 1e-3 per 512 images -> 4e-3, weight
#   decay 0.025, eps 1e-8, no decay on 1-D parameters and biases as timm's optimizer factory),
#   5 warm-up epochs from 1e-6, then cosine to 1e-5 at epoch 300, stepped per epoch.
# - Adaptive gradient clipping (AGC, clip factor 0.02) of every model parameter, classifier
#   included, through timm's adaptive_clip_grad (mmmobile.AGCOptimWrapperConstructor).
# - Model EMA with decay 0.99996 after every iteration, over weights and BN buffers (timm ModelEma
#   = mmengine EMAHook momentum 1 - 0.99996).
# - Repeated augmentation (mmpretrain RepeatAugSampler, 3 repeats, as DeiT's RASampler),
#   RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (per-pixel noise), mixup 0.8 /
#   cutmix 1.0 (one of the two per batch), label smoothing 0.1, bicubic RandomResizedCrop 224;
#   evaluation: bicubic resize of the short side to 256, centre crop 224.
# - Distillation: the variant configs (configs/cls/repvit/repvit-m*_8xb256-300e_in1k.py) add
#   DeiT hard distillation from RegNetY-160 (alpha 0.5, tau 1.0; mmmobile.DistillationClassifier);
#   their -no-teacher twins train both heads on the labels.
# Differences from the official trainer:
# - mmengine's EMAHook validates with the EMA weights and saves them as 'state_dict' (the raw
#   weights go to 'ema_state_dict'); the official trainer evaluates and releases the raw weights
#   and keeps the EMA copy aside.
# - timm's scheduler runs one epoch behind (DeiT's main.py steps it with the epoch just trained,
#   so epochs 0 and 1 both train at 1e-6); here epoch e trains at timm's lr(e).
# - RepeatAugSampler gives each rank ceil(N / world size) samples per epoch, DeiT's RASampler
#   floor(N // 256 * 256 / world size). Both hand the 3 repeats of an image to 3 different
#   ranks; in a single-process run they share a batch.
# - Colour jitter 0.4 is inactive in timm when RandAugment is on, so it is not added.
# - Without CUDA, mmmobile's tools replace the AmpOptimWrapper by an fp32 OptimWrapper.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256, sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='mmmobile.AGCOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3 * 2048 / 512, weight_decay=0.025, eps=1e-8),
    paramwise_cfg=dict(
        _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(type='agc', clip_factor=0.02))

# timm's CosineLRScheduler(t_initial=300, warmup_t=5, warmup_lr_init=1e-6, lr_min=1e-5), stepped
# per epoch as timm: the warm-up (mmengine's LinearLR reaches its end factor at step end - 1)
# multiplies a cosine counted from epoch 0, which timm replaces during the warm-up (< 0.05 % apart).
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-3, by_epoch=True, begin=0, end=6),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, end=300, T_max=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=2048)
custom_hooks = [
    # Checkpoints that torch's weights_only loading accepts, so --resume works with any tool.
    dict(type='mmmobile.SafeCheckpointHook'),
    dict(type='EMAHook', momentum=1 - 0.99996, update_buffers=True, priority='ABOVE_NORMAL'),
]
