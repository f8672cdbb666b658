# SSDLite COCO 320x320, 200 epochs, MobileViTv3-1.0 (official mAP 27.0;
# MobileViTv3-v2/config/detection/ssd_coco/mobilevit_v3.yaml on CVNets v0.2): the MobileViTv3-S
# detector (ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py, where the differences from the official
# SSD are listed) with the MobileViTv2-based backbone and its recipe:
# - RGB input in [0, 1] (CVNets v0.2 reads images with PIL), bicubic resizing to 320x320;
# - stride-16 / stride-32 maps of 384 / 512 channels;
# - AdamW weight decay 0.05 on every parameter, max lr 9e-4, 500 warm-up iterations from 9e-5,
#   cosine to 1e-6; 32 images x 4 GPUs (= 128, as the yaml states).
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_1_0_0) -> the path below.
_base_ = './ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py'

pretrained = 'checkpoints/mobilevitv3-1.0_in1k.pth'
data_preprocessor = dict(bgr_to_rgb=True)
model = dict(
    data_preprocessor=dict(bgr_to_rgb=True),
    backbone=dict(arch='1.0', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(384, 512), out_channels=(384, 512, 256, 128, 128, 64)),
    bbox_head=dict(in_channels=(384, 512, 256, 128, 128, 64)))

input_size = 320
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False,
         interpolation='bicubic'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False,
         interpolation='bicubic'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_lr = 9e-4
# mmengine's LinearLR reaches its end factor at step end - 1: end=501 ramps over 500 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=9e-5 / max_lr, by_epoch=False, begin=0, end=501),
    dict(type='CosineAnnealingLR', begin=0, T_max=200, end=200, by_epoch=True, eta_min=1e-6),
]
optim_wrapper = dict(optimizer=dict(lr=max_lr, weight_decay=0.05))
