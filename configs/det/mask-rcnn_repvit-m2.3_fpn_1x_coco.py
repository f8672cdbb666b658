# RepViT-M2.3 Mask R-CNN FPN 1x COCO (official: AP box 44.6 / mask 40.8; taps [6, 14, 50, 54];
# initialised from the 450-epoch ImageNet weights).
_base_ = './mask-rcnn_repvit-m1.1_fpn_1x_coco.py'

pretrained = 'checkpoints/repvit-m2.3_in1k.pth'  # from repvit_m2_3_distill_450e.pth
model = dict(
    backbone=dict(arch='m2_3', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[80, 160, 320, 640]))
