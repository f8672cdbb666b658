# RepViT-M1.5 on ImageNet-1K with the official recipe (configs/_base_/repvit_in1k_recipe.py) but
# no teacher: both heads learn the labels (DeiT's hard distillation with the teacher replaced by
# the labels). The paper's top-1 needs the distilled repvit-m1.5_8xb256-300e_in1k.py.
_base_ = [
    '../../_base_/models/repvit-m1.1_in1k.py',
    '../../_base_/repvit_in1k_recipe.py',
]

model = dict(backbone=dict(arch='m1_5'), head=dict(in_channels=512))
