# DeepLabv3 ADE20K 512x512, MobileViTv3-0.75 (official mIoU 36.43): the MobileViTv3-1.0 recipe
# (deeplabv3_mobilevitv3-1.0_4xb4-152k_ade20k-512x512.py; one official yaml for all widths) with
# stage-3 / stage-4 maps of 288 / 384 channels (auxiliary head: max(288 / 4, 128) = 128).
# Backbone weights: tools/convert_ckpt.py mobilevitv3 (mobilevitv3_0_7_5) -> the path below.
_base_ = './deeplabv3_mobilevitv3-1.0_4xb4-152k_ade20k-512x512.py'

pretrained = 'checkpoints/mobilevitv3-0.75_in1k.pth'
model = dict(
    backbone=dict(arch='0.75', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=384),
    auxiliary_head=dict(in_channels=288))
