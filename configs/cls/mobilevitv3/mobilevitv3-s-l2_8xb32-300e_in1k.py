# MobileViTv3-S-L2 (low latency: two instead of four transformer blocks in layer 4; official mode
# small_v3_fast) on ImageNet-1K at 256x256 with the recipe of MobileViTv3-S
# (mobilevitv3-s_8xb32-300e_in1k.py; the release has no separate yaml for the L2 variants).
# Official checkpoint: top-1 79.06, 5,169,864 parameters.
_base_ = './mobilevitv3-s_8xb32-300e_in1k.py'

model = dict(backbone=dict(arch='s_l2'))
