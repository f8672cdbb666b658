# Fused (re-parameterized) MobileViTv3-XXS-L2: loads checkpoints written after
# mmmobile.switch_to_deploy (Conv+BN folded into biased convs).
_base_ = '../mobilevitv3-xxs-l2_8xb64-300e_in1k.py'

model = dict(backbone=dict(deploy=True))
