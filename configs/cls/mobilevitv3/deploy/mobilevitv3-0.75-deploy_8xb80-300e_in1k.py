# Fused (re-parameterized) MobileViTv3-0.75: loads checkpoints written after
# mmmobile.switch_to_deploy (Conv+BN folded into biased convs).
_base_ = '../mobilevitv3-0.75_8xb80-300e_in1k.py'

model = dict(backbone=dict(deploy=True))
