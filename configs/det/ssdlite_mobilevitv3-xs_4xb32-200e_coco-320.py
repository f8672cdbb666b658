# SSDLite COCO 320x320, 200 epochs, MobileViTv3-XS (official mAP 25.6;
# MobileViTv3-v1/config/detection/ssd_mobilevitv3_x_small_320.yaml): the MobileViTv3-S recipe
# (ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py, where the differences from the official SSD are
# listed) with the XS backbone (stride-16 / stride-32 maps of 160 / 160 channels) and max lr 9e-4.
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_XS_e300_7671) -> the path below.
_base_ = './ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py'

pretrained = 'checkpoints/mobilevitv3-xs_in1k.pth'
model = dict(
    backbone=dict(arch='xs', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(160, 160), out_channels=(160, 160, 256, 128, 128, 64)),
    bbox_head=dict(in_channels=(160, 160, 256, 128, 128, 64)))

max_lr = 9e-4
# mmengine's LinearLR reaches its end factor at step end - 1: end=501 ramps over 500 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=9e-5 / max_lr, by_epoch=False, begin=0, end=501),
    dict(type='CosineAnnealingLR', begin=0, T_max=200, end=200, by_epoch=True, eta_min=1e-6),
]
optim_wrapper = dict(optimizer=dict(lr=max_lr))
