# faults_repvit_cls.py in its fused deploy form (built directly with deploy=True).
_base_ = './faults_repvit_cls.py'
model = dict(backbone=dict(deploy=True))
