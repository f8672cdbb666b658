# Fused (re-parameterized) RepViT-M0.6: loads checkpoints written after switch_to_deploy and
# the fused official weights.
_base_ = '../repvit-m0.6-no-teacher_8xb256-300e_in1k.py'

model = dict(backbone=dict(deploy=True), head=dict(deploy=True))
