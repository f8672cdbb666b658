# Mask R-CNN + FPN, 1x schedule (12 epochs), COCO, MobileViTv3-S backbone. The MobileViTv3 paper
# and code have no Mask R-CNN (only SSDLite, see ssdlite_mobilevitv3-*.py), so this recipe is
# ours: mmdet's recipe for hierarchical transformer backbones (Swin-T Mask R-CNN 1x): AdamW lr
# 1e-4, weight decay 0.05 without decay on norms, 1000-iteration linear warm-up, lr x0.1 at epochs
# 8 and 11, 2 images x 8 GPUs, 1333x800 inputs.
# - FPN on the stride-4/8/16/32 maps (stages 1-4: 64 / 128 / 256 / 320 channels); the backbone
#   drops conv_1x1_exp (final_conv=False) as the official detectors do;
# - BGR input in [0, 1] without mean/std, as the ImageNet weights expect; inputs padded to a
#   multiple of 32 (any size works: the patch unfolding resizes odd maps as officially);
# - BN statistics frozen (norm_eval=True; 2 images per GPU), official dropouts kept.
# Backbone weights: python tools/convert_ckpt.py mobilevitv3 checkpoint_ema_best.pt \
#     checkpoints/mobilevitv3-s_in1k.pth   (from the mobilevitv3_S_e300_7930 release folder)
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

pretrained = 'checkpoints/mobilevitv3-s_in1k.pth'
model = dict(
    data_preprocessor=dict(mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='mmmobile.MobileViTv3',
        arch='s',
        out_indices=(1, 2, 3, 4),
        final_conv=False,
        frozen_stages=-1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 320]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
