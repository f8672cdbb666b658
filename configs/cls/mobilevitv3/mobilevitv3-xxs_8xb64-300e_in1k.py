# MobileViTv3-XXS on ImageNet-1K at 256x256 with the official recipe
# (MobileViTv3-v1/config/classification/mobilevitv3_xx_small_oneserver.yaml; shared parts in
# configs/_base_/mobilevitv3_v1_in1k_recipe.py): 64 images per GPU, transformer dropout 0.05,
# classifier dropout 0.1. Official checkpoint: top-1 70.98, 1,249,448 parameters.
_base_ = [
    '../../_base_/models/mobilevitv3-s_in1k.py',
    '../../_base_/mobilevitv3_v1_in1k_recipe.py',
]

model = dict(backbone=dict(arch='xxs'), head=dict(in_channels=512))

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=512)
