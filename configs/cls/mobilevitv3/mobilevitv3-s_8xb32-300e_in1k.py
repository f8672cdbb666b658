# MobileViTv3-S on ImageNet-1K at 256x256 with the official recipe
# (MobileViTv3-v1/config/classification/mobilevitv3_small_oneserver.yaml; shared parts in
# configs/_base_/mobilevitv3_v1_in1k_recipe.py): 32 images per GPU, transformer dropout 0.1,
# classifier dropout 0.1. Official checkpoint (checkpoint_ema_best.pt): top-1 79.30,
# 5,763,912 parameters.
_base_ = [
    '../../_base_/models/mobilevitv3-s_in1k.py',
    '../../_base_/mobilevitv3_v1_in1k_recipe.py',
]

model = dict(backbone=dict(arch='s'), head=dict(in_channels=960))

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
