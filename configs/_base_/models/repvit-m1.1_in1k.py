# RepViT-M1.1 ImageNet-1K classifier (mmpretrain ImageClassifier). Variant configs override the
# backbone arch and the head's in_channels.
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmmobile.RepViT', arch='m1_1', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmmobile.RepViTClsHead',
        num_classes=1000,
        in_channels=512,
        # Official checkpoints carry the distillation twin; see RepViTClsHead for training.
        distillation=True,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
