# Mask R-CNN + FPN, 1x schedule, COCO, RepLKNet-31B backbone (ImageNet-1K pre-trained).
# The RepLKNet paper reports Cascade Mask R-CNN 3x and FCOS only (see
# cascade-mask-rcnn_replknet-31b_fpn_3x_coco.py); this 1x Mask R-CNN carries the paper's
# downstream backbone settings over to mmdet's standard 1x recipe:
# - backbone as the official detection configs: all four stage outputs without extra norms,
#   BN statistics trained (SyncBN across GPUs via sync_bn='torch'; plain BN on one device),
#   gradient checkpointing on; drop path 0.3 (our choice for 12 epochs: the official 36-epoch
#   Cascade run uses 0.6, mmdet's 1x Swin-T 0.2);
# - AdamW as the official detection configs (weight decay 0.05, no decay on norms). Their lr 4e-4
#   is for 1 image per GPU on an unstated number of GPUs (the authors' segmentation runs used
#   32-64); we assume 32 images per step and scale linearly to the total batch used here,
#   16 images (8 GPUs x 2): lr 2e-4. The schedule is epoch based, so iterations follow the
#   batch size automatically; --auto-scale-lr rescales lr for another total batch;
# - 500-iteration linear warm-up (ratio 0.001), lr x0.1 at epochs 8 and 11; single-scale
#   1333x800 training as mmdet's 1x.
# Backbone weights: python tools/convert_ckpt.py replknet RepLKNet-31B_ImageNet-1K_224.pth \
#     checkpoints/replknet-31b_in1k.pth
# (its final-norm keys, stages.3.norm, are not used by this backbone; tools/train.py warns and
# trains from scratch when the file is missing).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

pretrained = 'checkpoints/replknet-31b_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmmobile.RepLKNet',
        arch='31B',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
sync_bn = 'torch'  # used by mmengine only in distributed runs
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
