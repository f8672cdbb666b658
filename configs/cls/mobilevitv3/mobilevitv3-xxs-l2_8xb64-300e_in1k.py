# MobileViTv3-XXS-L2 (two instead of four transformer blocks in layer 4; official mode
# xx_small_v3_fast) on ImageNet-1K at 256x256 with the recipe of MobileViTv3-XXS
# (mobilevitv3-xxs_8xb64-300e_in1k.py). Official checkpoint: top-1 70.23, 1,145,288 parameters.
_base_ = './mobilevitv3-xxs_8xb64-300e_in1k.py'

model = dict(backbone=dict(arch='xxs_l2'))
