# CMT-S ImageNet-1K classifier (mmpretrain ImageClassifier). Variant configs override the backbone
# arch, its native img_size and drop-path rate, and the head's in_channels and dropout.
# There is no neck: CMTClsHead runs the official 1x1 conv (1280) + BN + Swish on the stride-32
# map, then pools, applies dropout and the Linear classifier.
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmmobile.CMT', arch='s', img_size=224, out_indices=(3, ), drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='mmmobile.CMTClsHead',
        num_classes=1000,
        in_channels=512,
        mid_channels=1280,
        dropout_rate=0.1,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
