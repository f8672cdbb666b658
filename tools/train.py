#!/usr/bin/env python
"""Train a classifier, detector or segmentor from an mmpretrain, mmdet or mmseg config.

The config's ``default_scope`` selects the toolbox; mmengine's Runner does the training. Compared
with the toolboxes' own ``tools/train.py`` this one also runs on machines without CUDA (AMP and
SyncBN fall back, distributed runs use gloo), stops with one message when the data is missing, and
writes checkpoints that ``--resume`` can load under torch's ``weights_only=True``.

Examples::

    python tools/train.py configs/demo/<name>.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --resume
    tools/dist_train.sh CONFIG 2 --amp
"""
import argparse
import os
import sys
import warnings
from typing import List, Optional

# mmengine 0.10.7 and mmcv import pkg_resources (setuptools < 82 is pinned for them); its
# deprecation warning, repeated by every import, is noise for users of these tools.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The options.
    """
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Train a model with an mmpretrain / mmdet / mmseg config (mmmobile engine).')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, resume from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training (refused on CPU: falls back to fp32)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the real total batch size (needs '
        'auto_scale_lr.base_batch_size in the config)')
    parser.add_argument(
        '--no-validate', action='store_true', help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the resume/load_from checkpoint with torch.load(weights_only=False); only for '
        'a checkpoint you trust that was written elsewhere (also: MMMOBILE_TRUSTED_CHECKPOINT=1)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the used config, the key-value pair in xxx=yyy format will '
        'be merged into the config file. If the value to be overwritten is a list, it should be '
        'like key="[a,b]" or key=a,b. It also allows nested list/tuple values, e.g. '
        'key="[(a,b),(c,d)]". Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_train.sh passes pytorch)')
    # torch.distributed.launch passes --local-rank (older versions --local_rank).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run training; report user errors in one line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        int: The exit status.
    """
    args = parse_args(argv)
    from mmmobile.engine import USER_ERRORS, run_train

    try:
        run_train(
            args.config,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            auto_scale_lr=args.auto_scale_lr,
            no_validate=args.no_validate,
            cfg_options=args.cfg_options,
            launcher=args.launcher,
            trust_checkpoint=args.trust_checkpoint)
    except USER_ERRORS as error:
        print(f'tools/train.py: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
