# UperNet, ADE20K, 160k iterations, MobileViTv3-1.0 backbone. The paper reports ADE20K only with
# DeepLabv3 (see deeplabv3_mobilevitv3-*.py); this recipe is ours: mmseg's UperNet recipe for
# hierarchical transformer backbones (Swin-T), as the other UperNet configs here: AdamW lr 6e-5,
# weight decay 0.01 (none on norms), 1500-iteration linear warm-up then poly (power 1),
# 2 images x 8 GPUs, 512x512 crops, auxiliary FCN head on the stride-16 map (loss weight 0.4),
# mmseg's ADE20K pipeline. 1.0 for the reason given in the Semantic FPN config
# (the paper's ADE20K results are for the MobileViTv2-based widths).
# - UperNet on the stride-4/8/16/32 maps (stages 1-4: 128 / 256 / 384 / 512 channels);
# - RGB input in [0, 1] without mean/std, as the ImageNet weights expect;
# - BN statistics frozen (norm_eval=True; 2 images per GPU).
# Backbone weights: python tools/convert_ckpt.py mobilevitv3 checkpoint_ema_best.pt \
#     checkpoints/mobilevitv3-1.0_in1k.pth   (from the mobilevitv3_1_0_0 release folder)
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
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
        out_indices=(1, 2, 3, 4),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[128, 256, 384, 512], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
