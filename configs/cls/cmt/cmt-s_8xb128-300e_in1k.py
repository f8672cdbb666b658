# CMT-S on ImageNet-1K at its native 224x224 with the official recipe (cmt_pytorch README command +
# train.py defaults; shared parts in configs/_base_/cmt_in1k_recipe.py): 8 GPUs x 128 images, 300
# epochs, AdamW lr 5e-4 per 512 images -> 5e-4 * 1024 / 512, weight decay 0.05, 20 warm-up epochs
# from 1e-7, cosine to 1e-5, drop path 0.1, classifier dropout 0.1, EMA of the weights (decay
# 0.99996). Official checkpoint top-1: 83.5. Built at img_size=224, the resolution of the released
# checkpoint.
_base_ = [
    '../../_base_/models/cmt-s_in1k.py',
    '../../_base_/cmt_in1k_recipe.py',
]

model = dict(
    backbone=dict(arch='s', img_size=224, drop_path_rate=0.1),
    head=dict(in_channels=512, dropout_rate=0.1))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-4 * 1024 / 512, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-7 / (5e-4 * 1024 / 512), by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
auto_scale_lr = dict(base_batch_size=1024)
# timm ModelEma (decay 0.99996, every iteration, buffers included) -> EMAHook momentum 1 - decay.
custom_hooks = [
    dict(type='mmmobile.SafeCheckpointHook'),
    dict(type='EMAHook', momentum=4e-5, update_buffers=True, priority='ABOVE_NORMAL'),
]
