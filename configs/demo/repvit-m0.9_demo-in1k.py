# A stronger demo classifier, the teacher of repvit-m0.6_distill_demo-in1k.py: RepViT-M0.9
# (2x the parameters of M0.6) on the same data and recipe (repvit-m0.6_demo-in1k.py), but
# without mixup / cutmix, which on a few hundred images slow down learning more than they help.
# Writes work_dirs/repvit-m0.9_demo-in1k/epoch_10.pth.
_base_ = './repvit-m0.6_demo-in1k.py'

model = dict(backbone=dict(arch='m0_9'), head=dict(in_channels=384), train_cfg=None)
