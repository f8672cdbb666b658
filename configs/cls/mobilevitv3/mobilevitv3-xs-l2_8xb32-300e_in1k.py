# MobileViTv3-XS-L2 (two instead of four transformer blocks in layer 4; official mode
# x_small_v3_fast) on ImageNet-1K at 256x256 with the recipe of MobileViTv3-XS
# (mobilevitv3-xs_8xb32-300e_in1k.py). Official checkpoint: top-1 76.10, 2,257,320 parameters.
_base_ = './mobilevitv3-xs_8xb32-300e_in1k.py'

model = dict(backbone=dict(arch='xs_l2'))
