# Fused (re-parameterized) RepViT-M2.3: loads checkpoints written after switch_to_deploy and
# the fused official weights.
_base_ = '../repvit-m2.3-no-teacher_8xb256-300e_in1k.py'

model = dict(backbone=dict(deploy=True), head=dict(deploy=True))
