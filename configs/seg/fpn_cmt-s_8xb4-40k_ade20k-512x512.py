# Semantic FPN, ADE20K, 40k iterations, CMT-S backbone. The CMT paper reports no segmentation
# result; this is the mmseg Semantic FPN recipe for mobile/hierarchical backbones (PoolFormer, as
# the RepViT configs here): AdamW lr 2e-4, weight decay 1e-4, poly (power 0.9, min 1e-6) without
# warm-up, 4 images x 8 GPUs, 512x512 crops. Added for CMT: no weight decay on the relative
# position biases and on the norms, drop path 0.1, frozen BN statistics (norm_eval=True).
# The backbone is built at img_size=224 (the checkpoint's resolution); the biases are resized
# (bicubic) to the 512x512 crops and to any test size on the fly.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
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
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'.relative_pos': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=1e-6, begin=0, end=40000, by_epoch=False)
]
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
