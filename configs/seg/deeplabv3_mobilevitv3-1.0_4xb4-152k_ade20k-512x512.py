# DeepLabv3, ADE20K, 512x512 crops, MobileViTv3-1.0: the paper's segmenter
# (micronDLA/MobileViTv3 MobileViTv3-v2/config/segmentation/ade20k/deeplabv3_mobilevitv3.yaml on
# CVNets v0.2; mIoU 39.13) on mmseg's ASPPHead.
# Reproduced:
# - backbone at output stride 8 (stages 3 and 4 dilated), without classifier, its BN statistics
#   trained (SyncBN across GPUs via sync_bn='torch'), RGB input in [0, 1]; initialised from the
#   converted official ImageNet weights;
# - ASPP on the last map: 512 channels, 1x1 + three 3x3 branches at rates 12 / 24 / 36 + image
#   pooling, dropout 0.1, SyncBN and ReLU; auxiliary head on the stage-3 map as CVNets' (3x3 conv
#   to max(C / 4, 128) = 128 channels, dropout 0.1, 1x1 classifier), loss weight 0.4;
# - SGD (momentum 0.9, weight decay 1e-4 except on 1-D parameters and biases), cosine from 0.02
#   to 2e-4 without warm-up, gradient-norm clipping at 10, EMA of weights and buffers (momentum
#   5e-4), 4 images x 4 GPUs;
# - 120 epochs as iterations: ADE20K train has 20,210 images; CVNets' sampler gives every one of
#   the 4 GPUs ceil(20210 / 4) = 5053 images per epoch in ceil(5053 / 4) = 1264 batches, so
#   120 x 1264 = 151,680 iterations (the cosine decays per iteration here, per epoch in CVNets);
# - augmentation: bicubic random short-side resize in [256, 768] (mmseg RandomResize with ratio
#   0.5-1.5 of 512), rotation by up to 10 degrees, 512x512 crop with at most 75 % of one class,
#   flip, photometric distortion; evaluation resizes to 512x512 (bicubic) and resizes the
#   prediction back to the image size, as CVNets does.
# Not reproduced: the random Gaussian noise augmentation (no mmseg transform) and the official
# long-side cap of 1024 pixels in the random resize; labels follow mmseg's 150-class ADE20K
# (the "other" label 0 is ignored; CVNets trains it as a class with ignore index -1); mmseg's ASPP
# fuses the branches with a 3x3 conv (CVNets: 1x1); logits are upsampled with
# align_corners=False (CVNets: True); mixed precision is off (use an AmpOptimWrapper on GPUs).
# Backbone weights: python tools/convert_ckpt.py mobilevitv3 checkpoint_ema_best.pt \
#     checkpoints/mobilevitv3-1.0_in1k.pth   (from the mobilevitv3_1_0_0 release folder)
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

crop_size = (512, 512)
pretrained = 'checkpoints/mobilevitv3-1.0_in1k.pth'
data_preprocessor = dict(
    mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=True, size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmmobile.MobileViTv3',
        arch='1.0',
        out_indices=(3, 4),
        out_stride=8,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=512, in_index=1, channels=512, dilations=(1, 12, 24, 36),
                     num_classes=150),
    auxiliary_head=dict(in_channels=384, in_index=0, channels=128, num_classes=150))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 1.5), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='RandomRotate', prob=1.0, degree=10, pad_val=0, seg_pad_val=255),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False, interpolation='bicubic'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 120 * 1264
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=2e-4, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters)
auto_scale_lr = dict(enable=False, base_batch_size=16)
sync_bn = 'torch'  # used by mmengine only in distributed runs
custom_hooks = [
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
    # Checkpoints that torch's weights_only loading accepts, so --resume works with any tool.
    dict(type='mmmobile.SafeCheckpointHook'),
]
