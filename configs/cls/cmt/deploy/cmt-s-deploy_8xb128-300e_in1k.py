# Fused (re-parameterized) CMT-S: loads checkpoints written after mmmobile.switch_to_deploy
# (key/value reduction conv+BN, LPU/IRFFN identity, IRFFN BN->1x1 conv->BN, merged k/v or q/k/v
# Linears, head 1x1 conv+BN).
_base_ = '../cmt-s_8xb128-300e_in1k.py'

model = dict(backbone=dict(deploy=True), head=dict(deploy=True))
