# RepViT-M1.5 Mask R-CNN FPN 1x COCO (official: AP box 41.6 / mask 38.6; taps [4, 10, 36, 42]).
_base_ = './mask-rcnn_repvit-m1.1_fpn_1x_coco.py'

pretrained = 'checkpoints/repvit-m1.5_in1k.pth'  # from repvit_m1_5_distill_300e.pth
model = dict(
    backbone=dict(arch='m1_5', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
