# Fused (re-parameterized) twin of ../replknet-31b_32xb64-300e_in1k.py.
# Loads checkpoints written by tools/fuse_ckpt.py (switch_to_deploy: kernels merged, every BN
# folded) and the output of tools/convert_ckpt.py for files whose kernels were already merged
# (converter meta deploy=True).
_base_ = '../replknet-31b_32xb64-300e_in1k.py'

model = dict(backbone=dict(deploy=True, init_cfg=None), init_cfg=None)
