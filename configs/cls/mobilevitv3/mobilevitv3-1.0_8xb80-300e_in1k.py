# MobileViTv3-1.0 on ImageNet-1K at 256x256 with the official recipe
# (MobileViTv3-v2/config/classification/imagenet/mobilevit_v3_oneserver.py, width multiplier
# 1.0; shared parts in configs/_base_/mobilevitv3_v2_in1k_recipe.py): 80 images per GPU.
# Official checkpoint (checkpoint_ema_best.pt): top-1 78.64, 5,139,409 parameters.
_base_ = [
    '../../_base_/models/mobilevitv3-1.0_in1k.py',
    '../../_base_/mobilevitv3_v2_in1k_recipe.py',
]

model = dict(backbone=dict(arch='1.0'), head=dict(in_channels=512))
