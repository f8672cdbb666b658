# RepViT Mask R-CNN on the synthetic demo set (python tools/make_demo_data.py), trained from random
# initialisation on the CPU in about 15 minutes. Inherits the card's entry point
# (configs/det/repvit_maskrcnn.py) and changes only what the demo needs:
# - data: data/demo/coco (3 classes: circle, square, triangle), 256x256 images, 4 per batch;
# - schedule: 600 iterations, AdamW lr 1e-3, 50-iteration warm-up then cosine; one evaluation at
#   the end;
# - for CPU time: RepViT-M0.9 instead of M1.1, FPN/RPN/RoI channels 128 (not 256), a 256-wide box
#   head (not 1024), a 2x128 mask head (not 4x256), 256 proposals per image and 64 sampled RoIs
#   (not 1000/2000 and 512; RoIAlign and the RoI heads were half of a CPU iteration), at most 20 detections per image at test time (images hold 1-4
#   shapes);
# - from random initialisation: BN statistics are learnt (norm_eval=False), no pretrained weights.
_base_ = '../det/repvit_maskrcnn.py'

data_root = 'data/demo/coco/'
classes = ('circle', 'square', 'triangle')
metainfo = dict(classes=classes, palette=[(220, 20, 60), (0, 128, 255), (60, 180, 75)])
image_size = (256, 256)
max_iters = 600

model = dict(
    backbone=dict(arch='m0_9', norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[48, 96, 192, 384], out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(num_convs=2, in_channels=128, conv_out_channels=128,
                       num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=256),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=256), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
# A fixed seed makes the demo reproducible run to run.
randomness = dict(seed=0)
