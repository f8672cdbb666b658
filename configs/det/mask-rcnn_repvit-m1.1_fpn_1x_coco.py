# Mask R-CNN + FPN, 1x schedule, COCO, RepViT-M1.1 backbone: the official RepViT detection recipe
# (THU-MIG/RepViT detection/configs/mask_rcnn_repvit_m1_1_fpn_1x_coco.py, AP box 39.8 / mask 37.2)
# on mmdet 3.x bases.
# - Backbone taps: the official detection out_indices [2, 6, 20, 24] (the feature before the last
#   stride-1 block of each of the first three stages) -> out_taps='before_downsample'.
# - BN: running statistics frozen, affine parameters trainable (norm_eval=True), no frozen stage.
# - AdamW lr 2e-4, weight decay 0.05, 500-iteration linear warm-up, steps at epochs 8 and 11,
#   2 images x 8 GPUs = 16 per batch.
# - Backbone initialised from the official ImageNet weights, converted with
#   python tools/convert_ckpt.py repvit repvit_m1_1_distill_300e.pth checkpoints/repvit-m1.1_in1k.pth
#   (tools/train.py warns and trains from random initialisation when that file is missing).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

pretrained = 'checkpoints/repvit-m1.1_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmmobile.RepViT',
        arch='m1_1',
        out_indices=(0, 1, 2, 3),
        out_taps='before_downsample',
        frozen_stages=-1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
