# RepViT-M1.5 Semantic FPN ADE20K 40k (official mIoU 43.6; taps [5, 11, 37, 42]).
_base_ = './fpn_repvit-m1.1_8xb4-40k_ade20k-512x512.py'

pretrained = 'checkpoints/repvit-m1.5_in1k.pth'  # from repvit_m1_5_distill_300e.pth
model = dict(backbone=dict(arch='m1_5', init_cfg=dict(checkpoint=pretrained)))
