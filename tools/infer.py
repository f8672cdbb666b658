#!/usr/bin/env python
"""Predict one image with a classifier, detector or segmentor (the toolboxes' inferencers).

Examples::

    python tools/infer.py CONFIG CHECKPOINT demo.jpg --out vis.png
    python tools/infer.py work_dirs/demo/fused/deploy_config.py work_dirs/demo/fused/fused.pth \
        demo.jpg --out vis.png
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
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Predict one image with an mmpretrain / mmdet / mmseg config and checkpoint '
        '(also a deploy_config.py + fused.pth from tools/fuse_ckpt.py): prints the top-k '
        'classes, the detections or the label fractions, and with --out draws them.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint that fits the config')
    parser.add_argument('image', help='image file')
    parser.add_argument('--out', help='picture to write (.png, .jpg, ...)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    parser.add_argument('--device', help='cpu, cuda, cuda:1, ... (default: cuda if available)')
    parser.add_argument('--topk', type=int, default=5, help='classes to report (default 5)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest detection score reported and drawn (default 0.3)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load a checkpoint that holds pickled objects (weights_only=False)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the prediction; report user errors in one line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        int: The exit status.
    """
    args = parse_args(argv)
    from mmmobile.apis import infer, summary_lines
    from mmmobile.engine import USER_ERRORS
    try:
        result = infer(args.config, args.checkpoint, args.image, out=args.out, device=args.device,
                       topk=args.topk, score_thr=args.score_thr, overwrite=args.overwrite,
                       cfg_options=args.cfg_options, trust_checkpoint=args.trust_checkpoint)
    except USER_ERRORS as error:
        print(f'tools/infer.py: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    for line in summary_lines(result):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
