# A stronger demo classifier, the teacher of repvit-m0.6_distill_demo-in1k.py: RepViT-M1.1
# (3.3x the parameters of M0.6) trained 3x longer (30 epochs) than the demo student on the same
# data and recipe (repvit-m0.6_demo-in1k.py). Writes work_dirs/repvit-m1.1_demo-in1k/epoch_30.pth.
_base_ = './repvit-m0.6_demo-in1k.py'

model = dict(backbone=dict(arch='m1_1'), head=dict(in_channels=512))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=30),
]
train_cfg = dict(max_epochs=30, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))
