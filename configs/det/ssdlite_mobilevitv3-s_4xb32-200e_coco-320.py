# SSDLite, COCO, 320x320, 200 epochs, MobileViTv3-S: the paper's detector
# (micronDLA/MobileViTv3 MobileViTv3-v1/config/detection/ssd_mobilevitv3_small_320.yaml on CVNets
# v0.1 models/detection/ssd.py; mAP 27.3) on mmdet's SSD with depthwise-separable convolutions.
# Reproduced:
# - backbone: the ImageNet model without conv_1x1_exp and classifier (final_conv=False), its BN
#   statistics trained (SyncBN across GPUs via sync_bn='torch'), BGR input in [0, 1] as the
#   ImageNet weights expect; initialised from the converted official ImageNet weights;
# - six levels at 320x320: the stride-16 (stage 3) and stride-32 (stage 4) maps, three stride-2
#   extra levels with the official channels 256 / 128 / 128, and a sixth 64-channel level;
# - anchors: CVNets' scales linspace(0.1, 1.05, 7) of the 320 input, aspect ratios 2 and 3 on the
#   first five levels and 2 on the last (6 / 6 / 6 / 6 / 6 / 4 anchors per cell), cell centres
#   at strides 16 / 32 / 64 / 320/3 / 160 / 320; centre/size variances 0.1 / 0.2; matching IoU
#   0.5; hard negative mining 3:1; NMS IoU 0.5 with score threshold 0.01 and 200 boxes;
# - SyncBN and ReLU in the neck and head, Xavier-uniform init of their convolutions;
# - augmentation: SSD random IoU crop, photometric distortion, flip, resize to 320x320 (no
#   zoom-out, which the official config comments out), bilinear as OpenCV;
# - AdamW (betas 0.9/0.999, weight decay 0.01 on every parameter), 500 linear warm-up iterations
#   from 9e-5 then per-epoch cosine from 4e-3 to 1e-6 over 200 epochs, EMA of weights and buffers
#   (momentum 5e-4), 32 images x 4 GPUs.
# Not expressible in mmdet's SSDNeck/SSDHead (structural differences):
# - the official heads first project the backbone maps with a 1x1 conv (BN, ReLU) to 512
#   (stride 16) and 256 (stride 32) channels; here the heads read the backbone maps directly;
# - the official extra levels are one depthwise-separable 3x3 stride-2 conv each; mmdet's are a
#   1x1 conv to half the channels followed by a depthwise-separable 3x3 stride-2 conv;
# - the official last level is a global average pool + 1x1 conv (ReLU, no BN) with a 1x1
#   predictor; here it is a sixth stride-2 level (3x3, padding 1) with a 3x3 predictor: at
#   320x320 input it also yields a single cell whose anchors cover the whole image, but other
#   input sizes give more cells;
# - the official head predicts boxes and classes with one separable conv per level; mmdet uses
#   two (depthwise 3x3 + BN + ReLU, then 1x1);
# - anchors are not clipped to the image (CVNets clips the largest ratio boxes of the last level).
# Backbone weights: python tools/convert_ckpt.py mobilevitv3 checkpoint_ema_best.pt \
#     checkpoints/mobilevitv3-s_in1k.pth   (from the mobilevitv3_S_e300_7930 release folder)
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
# mmmobile.SSDLiteHead is mmdet's SSDHead with the mmdet 3.3.0 predict bug worked around.
custom_imports = dict(imports=['mmmobile'],
                      allow_failed_imports=False)

pretrained = 'checkpoints/mobilevitv3-s_in1k.pth'
input_size = 320
# CVNets' SSD anchor scales: linspace(0.1, 1.05, levels + 1) of the input; level k uses a box of
# scale s_k and one of sqrt(s_k * s_k+1). mmdet's second box is sqrt(min * max), so max = s_k+1.
box_scales = [0.1 + 0.95 * k / 6 for k in range(7)]
norm_cfg = dict(type='SyncBN', requires_grad=True)
act_cfg = dict(type='ReLU')
data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    bgr_to_rgb=False,
    pad_size_divisor=1)
model = dict(
    type='SingleStageDetector',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='mmmobile.MobileViTv3',
        arch='s',
        out_indices=(3, 4),
        final_conv=False,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        type='SSDNeck',
        in_channels=(256, 320),
        out_channels=(256, 320, 256, 128, 128, 64),
        level_strides=(2, 2, 2, 2),
        level_paddings=(1, 1, 1, 1),
        l2_norm_scale=None,
        use_depthwise=True,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='mmmobile.SSDLiteHead',
        in_channels=(256, 320, 256, 128, 128, 64),
        num_classes=80,
        use_depthwise=True,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            scale_major=False,
            strides=[16, 32, 64, input_size / 3, 160, 320],
            ratios=[[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2]],
            min_sizes=[input_size * s for s in box_scales[:-1]],
            max_sizes=[input_size * s for s in box_scales[1:]]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=[0.1, 0.1, 0.2, 0.2])),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0.,
            ignore_iof_thr=-1,
            gt_max_assign_all=False),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        nms=dict(type='nms', iou_threshold=0.5),
        min_bbox_size=0,
        score_thr=0.01,
        max_per_img=200))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=32, num_workers=4, batch_sampler=None, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 200
max_lr = 4e-3
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
# mmengine's LinearLR reaches its end factor at step end - 1: end=501 ramps over 500 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=9e-5 / max_lr, by_epoch=False, begin=0, end=501),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True,
         eta_min=1e-6),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=max_lr, betas=(0.9, 0.999), weight_decay=0.01))
auto_scale_lr = dict(enable=False, base_batch_size=128)
sync_bn = 'torch'  # used by mmengine only in distributed runs
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='EMAHook', momentum=5e-4, update_buffers=True, priority='ABOVE_NORMAL'),
    # Checkpoints that torch's weights_only loading accepts, so --resume works with any tool.
    dict(type='mmmobile.SafeCheckpointHook'),
]
