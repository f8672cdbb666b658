# RepViT-M2.3 Semantic FPN ADE20K 40k (official mIoU 46.1; taps [7, 15, 51, 54]; 450e weights).
_base_ = './fpn_repvit-m1.1_8xb4-40k_ade20k-512x512.py'

pretrained = 'checkpoints/repvit-m2.3_in1k.pth'  # from repvit_m2_3_distill_450e.pth
model = dict(
    backbone=dict(arch='m2_3', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320, 640]))
