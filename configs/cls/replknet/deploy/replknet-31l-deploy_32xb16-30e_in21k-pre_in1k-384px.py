# Fused (re-parameterized) twin of ../replknet-31l_32xb16-30e_in21k-pre_in1k-384px.py.
# Loads checkpoints written by tools/fuse_ckpt.py (switch_to_deploy: kernels merged, every BN
# folded) and the output of tools/convert_ckpt.py for files whose kernels were already merged
# (converter meta deploy=True).
_base_ = '../replknet-31l_32xb16-30e_in21k-pre_in1k-384px.py'

model = dict(backbone=dict(deploy=True, init_cfg=None), init_cfg=None)
