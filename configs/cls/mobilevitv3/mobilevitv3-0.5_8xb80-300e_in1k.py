# MobileViTv3-0.5 on ImageNet-1K at 256x256 with the official recipe (width multiplier 0.5;
# configs/_base_/mobilevitv3_v2_in1k_recipe.py). Official checkpoint: top-1 72.33,
# 1,429,985 parameters.
_base_ = [
    '../../_base_/models/mobilevitv3-1.0_in1k.py',
    '../../_base_/mobilevitv3_v2_in1k_recipe.py',
]

model = dict(backbone=dict(arch='0.5'), head=dict(in_channels=256))
