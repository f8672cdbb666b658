# MobileViTv3-S ImageNet-1K classifier (mmpretrain ImageClassifier), also the model of the other
# MobileViTv1-based variants (XXS, XS and the -L2 twins): variant configs override the backbone
# arch and the head's in_channels. The backbone ends with the official conv_1x1_exp
# (final_conv=True); the head pools, applies the official classifier dropout 0.1 and the Linear.
custom_imports = dict(imports=['mmmobile'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmmobile.MobileViTv3', arch='s', out_indices=(4, ), final_conv=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmmobile.MobileViTv3ClsHead',
        num_classes=1000,
        in_channels=960,
        dropout_rate=0.1,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))
