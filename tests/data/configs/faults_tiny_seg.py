# A RepViT-M0.6 + FCN segmentor that trains a few iterations on 64x64 images in seconds, for the
# crash-and-resume test of tests/test_faults.py. The test creates img/*.png and ann/*.png and
# sets data_root; max_keep_ckpts=1 makes a crash while saving the worst case.
default_scope = 'mmseg'
data_root = 'data/faults_tiny_seg'
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(64, 64)),
    backbone=dict(type='mmmobile.RepViT', arch='m0_6', out_indices=(3, )),
    decode_head=dict(
        type='FCNHead',
        in_channels=320,
        channels=16,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0,  # mmengine does not restore torch's RNG on resume: keep it unused
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    data_prefix=dict(img_path='img', seg_map_path='ann'),
    img_suffix='.png',
    seg_map_suffix='.png',
    metainfo=dict(classes=('background', 'shape'), palette=[[0, 0, 0], [255, 255, 255]]),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ])
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dataset)

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[3], gamma=0.1)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=1000)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=1, by_epoch=False)
log_level = 'WARNING'
load_from = None
resume = False
randomness = dict(seed=0)
