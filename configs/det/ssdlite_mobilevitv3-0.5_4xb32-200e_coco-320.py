# SSDLite COCO 320x320, 200 epochs, MobileViTv3-0.5 (official mAP 21.8): the MobileViTv3-1.0
# recipe (ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320.py; one official yaml for all widths) with
# stride-16 / stride-32 maps of 192 / 256 channels.
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_0_5_0) -> the path below.
_base_ = './ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320.py'

pretrained = 'checkpoints/mobilevitv3-0.5_in1k.pth'
model = dict(
    backbone=dict(arch='0.5', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(192, 256), out_channels=(192, 256, 256, 128, 128, 64)),
    bbox_head=dict(in_channels=(192, 256, 256, 128, 128, 64)))
