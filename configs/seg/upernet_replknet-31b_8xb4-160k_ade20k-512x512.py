# UperNet, ADE20K, 512x512 crops, 160k iterations, RepLKNet-31B (ImageNet-1K pre-trained): the
# paper's recipe (DingXiaoH/RepLKNet-pytorch segmentation/configs/
# RepLKNet-31B_1Kpretrain_upernet_160k_ade20k_512.py; mIoU 49.9 ss / 50.6 ms) on mmseg 1.x.
# - Heads as officially: UPerHead (pool scales 1/2/3/6, 512 channels, dropout 0.1) and an FCN
#   auxiliary head on the stride-16 map (256 channels, loss weight 0.4), SyncBN.
# - Backbone: four stage outputs without extra norms, BN statistics trained (SyncBN across GPUs
#   via sync_bn='torch'), gradient checkpointing, drop path 0.5.
# - AdamW (betas 0.9/0.999, weight decay 0.05, no decay on norms), linear warm-up from 1e-6
#   then poly decay (power 1) to 0; whole-image inference.
# - Batch, iterations and lr: the official run uses 2 images x 64 GPUs = 128 per step for 40k
#   iterations (its comment equates this to mmseg's 160k iterations at 32 images) with lr 2e-4
#   and 400 warm-up iterations. Here: 4 images x 8 GPUs = 32 per step for 160k iterations (the
#   same 5.12M samples), lr scaled linearly with the batch: 2e-4 x 32 / 128 = 5e-5, warm-up
#   scaled with the iterations: 400 x 4 = 1600. --auto-scale-lr rescales lr for another batch.
# Backbone weights: python tools/convert_ckpt.py replknet RepLKNet-31B_ImageNet-1K_224.pth \
#     checkpoints/replknet-31b_in1k.pth
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

crop_size = (512, 512)
pretrained = 'checkpoints/replknet-31b_in1k.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmmobile.RepLKNet',
        arch='31B',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.5,
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[128, 256, 512, 1024], num_classes=150),
    auxiliary_head=dict(in_channels=512, num_classes=150),
    test_cfg=dict(mode='whole'))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1600),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1600, end=160000, by_epoch=False),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
sync_bn = 'torch'  # used by mmengine only in distributed runs
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
