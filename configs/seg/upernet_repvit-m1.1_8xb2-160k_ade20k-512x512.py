# UperNet, ADE20K, 160k iterations, RepViT-M1.1 backbone. The RepViT paper reports no UperNet
# result; this follows mmseg's UperNet recipe for hierarchical backbones (Swin/ConvNeXt style):
# AdamW lr 6e-5, weight decay 0.01, 1500-iteration linear warm-up then poly, 2 images x 8 GPUs,
# 512x512 crops, auxiliary FCN head on the stride-16 map. BN statistics stay frozen as in the
# paper's downstream settings.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
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
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
