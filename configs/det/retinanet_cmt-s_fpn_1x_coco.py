# RetinaNet + FPN, 1x schedule (12 epochs), COCO, CMT-S backbone: the detector of the CMT paper's
# COCO table (box AP 44.3 for CMT-S). The paper's detection code and configs were never released;
# this uses the mmdet RetinaNet 1x setup with the optimizer rules of the Mask R-CNN config next to
# it (Swin-like): AdamW lr 1e-4, weight decay 0.05, no weight decay on the relative position biases
# and on every norm (LN and BN), 1000-iteration linear warm-up, steps at epochs 8 and 11,
# 2 images x 8 GPUs, 1333x800 inputs. FPN from stride 8 with extra levels on the input
# (P3-P7, as mmdet's RetinaNet/PVT configs).
# Unverified against the paper: weight decay (mmdet's PVT RetinaNet uses 1e-4), warm-up, drop path
# 0.1 (the ImageNet value), frozen BN statistics (norm_eval=True).
# - The backbone is built at img_size=224 (the checkpoint's resolution); the biases are resized
#   (bicubic) on the fly to every input's token grids, and inputs of any size work.
# - Backbone initialised from the official ImageNet weights, converted with
#   python tools/convert_ckpt.py cmt cmt_small.pth checkpoints/cmt-s_in1k.pth
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

pretrained = 'checkpoints/cmt-s_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmmobile.CMT',
        arch='s',
        img_size=224,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512], start_level=1, add_extra_convs='on_input',
              num_outs=5))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'.relative_pos': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
# Checkpoints that torch's weights_only loading accepts, so --resume works with any train tool.
custom_hooks = [dict(type='mmmobile.SafeCheckpointHook')]
