# RepLKNet-31B fine-tuned from the ImageNet-1K 224 model at 384x384: the official recipe (README,
# "Finetune the ImageNet-1K-pretrained (224x224) RepLKNet-31B with 384x384"; top-1 84.8).
# - 32 GPUs x 32 images = 1024 per step; lr 4e-4 (linear auto-scaling from 1024 images with
#   --auto-scale-lr), 30 epochs, 1 warm-up epoch, cosine to 1e-6, weight decay 1e-8, layer-wise
#   lr decay 0.7 (the official 14 layer groups, RepLKNet.get_layer_depth), drop path 0.8,
#   no mixup/cutmix (RandAugment, random erasing and label smoothing stay), EMA 0.9999.
# - Evaluation at >= 384 warps the image to 384x384 without cropping (timm, as officially).
# - Initialised from the converted 224 model (head included):
#   python tools/convert_ckpt.py replknet RepLKNet-31B_ImageNet-1K_224.pth \
#       checkpoints/replknet-31b_in1k.pth
_base_ = ['./replknet-31b_32xb64-300e_in1k.py']

model = dict(
    backbone=dict(drop_path_rate=0.8),
    train_cfg=dict(_delete_=True),  # no mixup / cutmix
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/replknet-31b_in1k.pth'))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor',
    optimizer=dict(lr=4e-4, weight_decay=1e-8),
    paramwise_cfg=dict(
        layer_decay_rate=0.7, norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-4, by_epoch=True, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=1024)
