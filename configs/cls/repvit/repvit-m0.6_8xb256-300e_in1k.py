# RepViT-M0.6 on ImageNet-1K with the official recipe (configs/_base_/repvit_in1k_recipe.py).
_base_ = [
    '../../_base_/models/repvit-m1.1_in1k.py',
    '../../_base_/repvit_in1k_recipe.py',
]

model = dict(backbone=dict(arch='m0_6'), head=dict(in_channels=320))
