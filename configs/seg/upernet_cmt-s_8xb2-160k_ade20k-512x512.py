# UperNet, ADE20K, 160k iterations, CMT-S backbone. The CMT paper reports no segmentation result;
# this is mmseg's UperNet recipe for hierarchical transformer backbones (Swin-T): AdamW lr 6e-5,
# weight decay 0.01, no weight decay on the relative position biases and on every norm,
# 1500-iteration linear warm-up then poly (power 1), 2 images x 8 GPUs, 512x512 crops, auxiliary
# FCN head on the stride-16 map. Added for CMT: drop path 0.1, frozen BN statistics
# (norm_eval=True). The backbone is built at img_size=224 (the checkpoint's resolution); the
# biases are resized (bicubic) to the 512x512 crops and to any test size on the fly.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

crop_size = (512, 512)
pretrained = 'checkpoints/cmt-s_in1k.pth'  # tools/convert_ckpt.py cmt cmt_small.pth ...
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmmobile.CMT',
        arch='s',
        img_size=224,
        out_indices=(0, 1, 2, 3),
        norm_eval=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'.relative_pos': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
