# The demo RepViT-M0.6 classifier (repvit-m0.6_demo-in1k.py: same data, schedule and recipe)
# trained as the paper: DeiT hard distillation (alpha 0.5) from a stronger demo teacher, the
# RepViT-M1.1 of repvit-m1.1_demo-in1k.py. Train the teacher first:
#   python tools/train.py configs/demo/repvit-m1.1_demo-in1k.py
#   python tools/train.py configs/demo/repvit-m0.6_distill_demo-in1k.py
_base_ = './repvit-m0.6_demo-in1k.py'

model = dict(
    type='mmmobile.DistillationClassifier',
    teacher='{{fileDirname}}/repvit-m1.1_demo-in1k.py',
    teacher_ckpt='work_dirs/repvit-m1.1_demo-in1k/epoch_30.pth',
    distill_mode='hard',
    alpha=0.5,
    tau=1.0)
