# The demo RepViT-M0.6 classifier (repvit-m0.6_demo-in1k.py: same data, schedule and recipe)
# trained as the paper: DeiT hard distillation (the DistillationClassifier defaults: alpha 0.5,
# tau 1.0) from a stronger demo teacher, the RepViT-M0.9 of repvit-m0.9_demo-in1k.py. Train the
# teacher first:
#   python tools/train.py configs/demo/repvit-m0.9_demo-in1k.py
#   python tools/train.py configs/demo/repvit-m0.6_distill_demo-in1k.py
_base_ = './repvit-m0.6_demo-in1k.py'

model = dict(
    type='mmmobile.DistillationClassifier',
    teacher='{{fileDirname}}/repvit-m0.9_demo-in1k.py',
    teacher_ckpt='work_dirs/repvit-m0.9_demo-in1k/epoch_10.pth')
