# SSDLite COCO 320x320, 200 epochs, MobileViTv3-XXS (official mAP 19.3;
# MobileViTv3-v1/config/detection/ssd_mobilevitv3_xx_small_320.yaml): the MobileViTv3-S recipe
# (ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py, where the differences from the official SSD are
# listed) with the XXS backbone (stride-16 / stride-32 maps of 80 / 128 channels), 64 images per
# GPU and max lr 9e-4 (4 GPUs assumed as for S; the yaml does not say).
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_XXS_e300_7098) -> the path below.
_base_ = './ssdlite_mobilevitv3-s_4xb32-200e_coco-320.py'

pretrained = 'checkpoints/mobilevitv3-xxs_in1k.pth'
model = dict(
    backbone=dict(arch='xxs', init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=(80, 128), out_channels=(80, 128, 256, 128, 128, 64)),
    bbox_head=dict(in_channels=(80, 128, 256, 128, 128, 64)))

train_dataloader = dict(batch_size=64)
max_lr = 9e-4
# mmengine's LinearLR reaches its end factor at step end - 1: end=501 ramps over 500 iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=9e-5 / max_lr, by_epoch=False, begin=0, end=501),
    dict(type='CosineAnnealingLR', begin=0, T_max=200, end=200, by_epoch=True, eta_min=1e-6),
]
optim_wrapper = dict(optimizer=dict(lr=max_lr))
auto_scale_lr = dict(base_batch_size=256)
