# Semantic FPN, ADE20K, 40k iterations, RepViT-M1.1 backbone: the official RepViT segmentation recipe
# (THU-MIG/RepViT segmentation/configs/sem_fpn/fpn_repvit_m1_1_ade20k_40k.py, mIoU 40.6) on mmseg 1.x
# bases: stage-end taps [3, 7, 21, 24], frozen BN statistics, AdamW lr 2e-4 / weight decay 1e-4,
# poly (power 0.9, min 1e-6) without warm-up, 4 images x 8 GPUs, 512x512 crops.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

crop_size = (512, 512)
pretrained = 'checkpoints/repvit-m1.1_in1k.pth'  # from repvit_m1_1_distill_300e.pth
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmmobile.RepViT',
        arch='m1_1',
        out_indices=(0, 1, 2, 3),
        out_taps='stage_end',
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=1e-6, begin=0, end=40000, by_epoch=False)
]
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
