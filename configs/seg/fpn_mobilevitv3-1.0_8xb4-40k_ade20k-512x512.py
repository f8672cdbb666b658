# Semantic FPN, ADE20K, 40k iterations, MobileViTv3-1.0 backbone. The paper reports ADE20K only with
# DeepLabv3 (see deeplabv3_mobilevitv3-*.py); this recipe is ours: the Semantic FPN recipe the
# other mobile backbones here use (PoolFormer / RepViT style): AdamW lr 2e-4, weight decay 1e-4
# (none on norms), poly (power 0.9, min 1e-6) without warm-up, 4 images x 8 GPUs, 512x512 crops,
# mmseg's ADE20K pipeline. 1.0 because the paper's ADE20K results are for the MobileViTv2-based
# widths (1.0 is the largest: DeepLabv3 39.13 mIoU), so FPN and UperNet results compare directly.
# - FPN on the stride-4/8/16/32 maps (stages 1-4: 128 / 256 / 384 / 512 channels);
# - RGB input in [0, 1] without mean/std, as the ImageNet weights expect;
# - BN statistics frozen (norm_eval=True), as the Semantic FPN configs of the other backbones.
# Backbone weights: python tools/convert_ckpt.py mobilevitv3 checkpoint_ema_best.pt \
#     checkpoints/mobilevitv3-1.0_in1k.pth   (from the mobilevitv3_1_0_0 release folder)
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
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
    neck=dict(in_channels=[128, 256, 384, 512]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=1e-6, begin=0, end=40000, by_epoch=False)
]
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
