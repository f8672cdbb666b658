# Cascade Mask R-CNN + FPN, 3x schedule, COCO, RepLKNet-31B (ImageNet-1K pre-trained): the
# paper's detector (DingXiaoH/RepLKNet-pytorch detection/configs/
# RepLKNet-31B_1Kpretrain_cascade_mask_rcnn_3x_coco.py; AP box 52.2 / mask 45.2) on mmdet 3.x.
# - Heads as officially (Swin-style "4conv1fc GIoU"): three ConvFCBBoxHead stages with 4 shared
#   convs + 1 FC, SyncBN, decoded-box GIoU loss (weight 10); 4-conv FCN mask head.
# - Backbone: all four stage outputs without extra norms, BN statistics trained (SyncBN across
#   GPUs via sync_bn='torch'), gradient checkpointing, drop path 0.6.
# - DETR-style augmentation: flip, then either multi-scale resize (short side 480-800, long
#   side <= 1333) or resize 400/500/600 -> random crop 384-600 -> multi-scale resize.
# - AdamW, weight decay 0.05, no decay on norms; 36 epochs, lr x0.1 at epochs 27 and 33, 500
#   linear warm-up iterations (ratio 0.001).
# - Batch and lr: officially 1 image per GPU with lr 4e-4 on an unstated number of GPUs (the
#   authors' segmentation runs used 32-64). We assume 32 images per step and scale linearly
#   to the 16 images (8 GPUs x 2) used here: lr 2e-4. Epoch-based, so iterations follow the
#   batch size; --auto-scale-lr rescales lr for another total batch.
# Backbone weights: python tools/convert_ckpt.py replknet RepLKNet-31B_ImageNet-1K_224.pth \
#     checkpoints/replknet-31b_in1k.pth
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

pretrained = 'checkpoints/replknet-31b_in1k.pth'


def _bbox_head(target_stds):
    return dict(
        type='ConvFCBBoxHead',
        num_shared_convs=4,
        num_shared_fcs=1,
        in_channels=256,
        conv_out_channels=256,
        fc_out_channels=1024,
        roi_feat_size=7,
        num_classes=80,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=target_stds),
        reg_class_agnostic=False,
        reg_decoded_bbox=True,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(
        _delete_=True,
        type='mmmobile.RepLKNet',
        arch='31B',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.6,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024]),
    roi_head=dict(bbox_head=[
        _bbox_head([0.1, 0.1, 0.2, 0.2]),
        _bbox_head([0.05, 0.05, 0.1, 0.1]),
        _bbox_head([0.033, 0.033, 0.067, 0.067]),
    ]))

scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
          (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=16)
sync_bn = 'torch'  # used by mmengine only in distributed runs
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
