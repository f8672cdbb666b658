# RepViT-M1.1 ImageNet-1K classifier trained as the paper: DeiT hard distillation from RegNetY-160
# (THU-MIG/RepViT main.py: --distillation-type hard --distillation-alpha 0.5
# --distillation-tau 1.0). The class head learns the labels, the distillation head the teacher's
# argmax on the same mixed batch; test-time output is their mean. The teacher weights are DeiT's
# regnety_160-a5fe301d.pth (see configs/_base_/models/regnety-160_deit-teacher.py).
_base_ = './repvit-m1.1_in1k.py'

model = dict(
    type='mmmobile.DistillationClassifier',
    teacher='{{fileDirname}}/regnety-160_deit-teacher.py',
    teacher_ckpt='checkpoints/regnety_160-a5fe301d.pth',
    distill_mode='hard',
    alpha=0.5,
    tau=1.0)
