#!/usr/bin/env python
"""Fuse (re-parameterize) a trained model: writes OUT/fused.pth and OUT/deploy_config.py."""
import argparse
import sys

from mmmobile.deploy import fuse_checkpoint
from mmmobile.engine import ToolError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Re-parameterize a trained classifier, detector or segmentor and write a fused '
        'checkpoint plus a deploy config (evaluate them with tools/test.py).')
    parser.add_argument('config', help='training config of the model')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('out_dir', help='output folder (fused.pth, deploy_config.py)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='probe input size for the fused-vs-unfused check (default 224 224)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing out_dir')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if min(args.shape) < 1:
        print(f'fuse_ckpt: error: invalid --shape {args.shape}', file=sys.stderr)
        return 1
    try:
        report = fuse_checkpoint(args.config, args.checkpoint, args.out_dir,
                                 input_shape=(1, 3, *args.shape), overwrite=args.overwrite)
    except (ToolError, FileNotFoundError, FileExistsError, RuntimeError, KeyError) as error:
        print(f'fuse_ckpt: error: {error}', file=sys.stderr)
        return 1
    print(f"params before fusing: {report['params_before']:,}")
    print(f"params after fusing:  {report['params_after']:,}")
    print(f"fused vs unfused max relative difference: {report['max_relative_difference']:.3e}")
    print(f"wrote {report['checkpoint']} and {report['config']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
