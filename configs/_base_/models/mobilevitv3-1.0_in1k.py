# MobileViTv3-1.0 ImageNet-1K classifier (mmpretrain ImageClassifier), also the model of the other
# MobileViTv2-based variants (0.5, 0.75): variant configs override the backbone arch and the
# head's in_channels. As officially there is no final 1x1 conv and no classifier dropout; the
# batch is mixed with mixup (alpha 0.2) or cutmix (alpha 1.0).
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmmobile.MobileViTv3', arch='1.0', out_indices=(4, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmmobile.MobileViTv3ClsHead',
        num_classes=1000,
        in_channels=512,
        dropout_rate=0.,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2), dict(type='CutMix', alpha=1.0)]))
