# Fused (re-parameterized) MobileViTv3-0.5: loads checkpoints written after
# mmmobile.switch_to_deploy (Conv+BN folded into biased convs).
_base_ = '../mobilevitv3-0.5_8xb80-300e_in1k.py'

model = dict(backbone=dict(deploy=True))
