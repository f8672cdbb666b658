# SSDLite COCO 320x320, 200 epochs, MobileViTv3-0.75 (official mAP 25.0): the MobileViTv3-1.0
# recipe (ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320.py; one official yaml for all widths) with
# stride-16 / stride-32 maps of 288 / 384 channels.
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_0_7_5) -> the path below.
_base_ = './ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320.py'

pretrained = 'checkpoints/mobilevitv3-0.75_in1k.pth'
model = dict(
    backbone=dict(arch='0.75', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(288, 384), out_channels=(288, 384, 256, 128, 128, 64)),
    bbox_head=dict(in_channels=(288, 384, 256, 128, 128, 64)))
