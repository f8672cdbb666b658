# The DeiT distillation teacher: timm's RegNetY-160 (83.6 M parameters, 15.9 GMACs at 224x224,
# ImageNet-1K top-1 82.6), exactly as the DeiT and RepViT trainers build it
# (create_model('regnety_160', pretrained=False, num_classes=1000, global_pool='avg')), wrapped in
# mmpretrain's TimmClassifier. timm builds it offline; the weights come from the user:
#   DeiT's file https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth
#   ({'model': state dict in timm naming}), saved as checkpoints/regnety_160-a5fe301d.pth.
# mmmobile.DistillationClassifier loads it unchanged (model.teacher_ckpt, strict); for other tools
# `python tools/convert_ckpt.py timm ...` is not needed. The teacher sees the student's normalized
# (ImageNet mean/std, RGB) and mixed batch, as in DeiT.
model = dict(
    type='TimmClassifier',
    model_name='regnety_160',
    pretrained=False,
    num_classes=1000,
    global_pool='avg')
