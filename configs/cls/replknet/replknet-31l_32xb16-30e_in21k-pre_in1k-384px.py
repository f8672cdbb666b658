# RepLKNet-31L, ImageNet-22K pre-trained, fine-tuned on ImageNet-1K at 384x384: the official
# recipe (README, "Finetune 22K-pretrained RepLKNet-31L on ImageNet-1K (384x384)"; top-1 86.6).
# - 32 GPUs x 16 images = 512 per step; lr 4e-4 (linear auto-scaling from 512 images with
#   --auto-scale-lr), 30 epochs, 1 warm-up epoch, cosine to min lr 3e-4, weight decay 1e-8,
#   layer-wise lr decay 0.7, drop path 0.3, no mixup/cutmix, EMA 0.9999.
# - Evaluation warps the image to 384x384 without cropping.
# - The backbone starts from the converted 22K model (its 21841-class head is not used):
#   python tools/convert_ckpt.py replknet RepLKNet-31L_ImageNet-22K.pth \
#       checkpoints/replknet-31l_in21k.pth
_base_ = ['./replknet-31b_32xb32-30e_in1k-384px.py']

model = dict(
    init_cfg=None,
    backbone=dict(
        arch='31L',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/replknet-31l_in21k.pth',
                      prefix='backbone.')),
    head=dict(in_channels=1536))

train_dataloader = dict(batch_size=16)
val_dataloader = dict(batch_size=16)
test_dataloader = val_dataloader

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 4e-4, by_epoch=True, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=3e-4, by_epoch=True, begin=1, end=30,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=512)
