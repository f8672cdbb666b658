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
    from mmmobile.engine.cli import add_runner_arguments, parse_runner_args

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
    add_runner_arguments(parser, 'tools/dist_train.sh')
    return parse_runner_args(parser, argv)


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
