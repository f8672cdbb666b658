# The DeiT distillation teacher: timm's RegNetY-160 (RegNetY-16GF; 83.59 M parameters, 15.96 G
# multiply-adds at 224x224), built as the DeiT and RepViT trainers build it
# (create_model('regnety_160', pretrained=False, num_classes=1000, global_pool='avg')), here in
# mmpretrain's TimmClassifier; timm builds it offline. Its weights come from the user: DeiT's
# https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth ({'model': state dict in timm
# naming}, the file timm itself loads for 'regnety_160.deit_in1k'), saved unchanged as
# checkpoints/regnety_160-a5fe301d.pth: mmmobile.DistillationClassifier reads the 'model' entry
# (model.teacher_ckpt) and loads it strictly. The teacher sees the student's preprocessed batch
# (ImageNet mean/std, RGB, after mixup / cutmix), as in DeiT.
model = dict(
    type='TimmClassifier',
    model_name='regnety_160',
    pretrained=False,
    num_classes=1000,
    global_pool='avg')
