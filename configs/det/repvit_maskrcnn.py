# The product card's entry point: RepViT-M1.1 Mask R-CNN FPN 1x COCO
# (identical to mask-rcnn_repvit-m1.1_fpn_1x_coco.py).
_base_ = './mask-rcnn_repvit-m1.1_fpn_1x_coco.py'
