#!/usr/bin/env python
"""Evaluate a checkpoint with an mmpretrain, mmdet or mmseg config.

The config's ``default_scope`` selects the toolbox; mmengine's Runner runs the test loop and logs
the metrics. Runs without CUDA (distributed runs use gloo) and stops with one message when the
config, the checkpoint or the data is missing.

Examples::

    python tools/test.py CONFIG work_dirs/run1/iter_1000.pth --out results.pkl
    python tools/test.py CONFIG CHECKPOINT --show-dir vis
    python tools/test.py CONFIG work_dirs/deploy/model.onnx   # the exported model, onnxruntime
    tools/dist_test.sh CONFIG CHECKPOINT 2
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
        description='Test (and eval) a checkpoint with an mmpretrain / mmdet / mmseg config '
        '(mmmobile engine).')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (path or URL), or a model.onnx written by tools/deploy.py: '
        'evaluated through onnxruntime with the same dataloader and metrics (graphs with a '
        'static input size are fed at that size; the log says so)')
    parser.add_argument(
        '--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file (.pkl); with mmseg configs a directory receives '
        'the result images instead')
    parser.add_argument(
        '--show-dir',
        help='directory where every test image is saved with its predictions painted (the '
        'config needs a visualization hook in default_hooks)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    add_runner_arguments(parser, 'tools/dist_test.sh')
    return parse_runner_args(parser, argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the test; report user errors in one line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        int: The exit status.
    """
    args = parse_args(argv)
    from mmmobile.engine import USER_ERRORS, run_test

    try:
        run_test(
            args.config,
            args.checkpoint,
            work_dir=args.work_dir,
            out=args.out,
            show_dir=args.show_dir,
            show=args.show,
            wait_time=args.wait_time,
            cfg_options=args.cfg_options,
            launcher=args.launcher,
            trust_checkpoint=args.trust_checkpoint)
    except USER_ERRORS as error:
        print(f'tools/test.py: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
