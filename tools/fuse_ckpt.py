#!/usr/bin/env python
"""Fuse (re-parameterize) a trained model: writes OUT/fused.pth and OUT/deploy_config.py."""
import argparse
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Re-parameterize a trained classifier, detector or segmentor and write a fused '
        'checkpoint plus a deploy config (evaluate them with tools/test.py) and report.json; the '
        'fused model and the reloaded files are verified against the unfused model (relative '
        'error <= 1e-4). tools/deploy.py does the same and also exports.')
    parser.add_argument('config', help='training config of the model')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('out_dir', help='output folder (fused.pth, deploy_config.py, report.json)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='input size of the fused-vs-unfused check (default 224 224)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the results of an earlier run in out_dir (other files '
                        'are never removed)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load a checkpoint that holds pickled objects (weights_only=False); '
                        'only for a file you trust')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # Imported after parsing, so --help and argument errors answer at once.
    from mmmobile.deploy import fuse_checkpoint, summary_lines
    from mmmobile.engine import USER_ERRORS
    try:
        report = fuse_checkpoint(args.config, args.checkpoint, args.out_dir,
                                 input_shape=tuple(args.shape), overwrite=args.overwrite,
                                 trust_checkpoint=args.trust_checkpoint)
    except USER_ERRORS as error:
        print(f'fuse_ckpt: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    for line in summary_lines(report):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
