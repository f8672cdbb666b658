# RepLKNet-XL at 320x320 (MegData-73M pre-trained, ImageNet-1K fine-tuned; official top-1 87.8):
# evaluates the released RepLKNet-XL_MegData73M_ImageNet1K.pth after
#   python tools/convert_ckpt.py replknet RepLKNet-XL_MegData73M_ImageNet1K.pth \
#       checkpoints/replknet-xl_meg73m-pre_in1k.pth
# XL facts: 1.5x depthwise width, kernels 27/27/27/13, no small re-parameterization kernel,
# mean = std = 127.5 (timm's "inception" constants) for pre-training, fine-tuning and evaluation;
# evaluation resizes the short side to int(320 / 0.875) = 365 (bicubic) and centre-crops 320.
# MegData-73M is private and the official XL fine-tuning command is unpublished: the training
# part below reuses the official 31L 22K -> 1K fine-tuning recipe (32 x 16 images, lr 4e-4,
# 30 epochs, layer decay 0.7, weight decay 1e-8, no mixup/cutmix, EMA) with drop path 0.3.
# That choice is ours, not the authors'.
_base_ = ['./replknet-31l_32xb16-30e_in21k-pre_in1k-384px.py']

model = dict(
    backbone=dict(
        arch='XL',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/replknet-xl_meg73m-pre_in1k.pth',
                      prefix='backbone.')),
    head=dict(in_channels=2048))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])

bgr_mean = [127.5, 127.5, 127.5]
bgr_std = [127.5, 127.5, 127.5]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=320, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[128, 128, 128], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=365, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
