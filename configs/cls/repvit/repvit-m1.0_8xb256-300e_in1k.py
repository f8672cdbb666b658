# RepViT-M1.0 on ImageNet-1K as the paper trained it: the official recipe
# (configs/_base_/repvit_in1k_recipe.py) with DeiT hard distillation from RegNetY-160, whose
# weights the user supplies (README "Training as the papers did"). Without the teacher:
# repvit-m1.0-no-teacher_8xb256-300e_in1k.py.
_base_ = [
    '../../_base_/models/repvit-m1.1-distill_in1k.py',
    '../../_base_/repvit_in1k_recipe.py',
]

model = dict(backbone=dict(arch='m1_0'), head=dict(in_channels=448))
