#!/usr/bin/env python
"""Convert an official checkpoint into an mmmobile (mmpretrain-style) checkpoint."""
import argparse
import sys

from mmmobile.converters import CONVERTERS, convert_checkpoint
from mmmobile.utils import ToolError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official release checkpoint to mmmobile keys '
        "({'state_dict': {'backbone.*', 'head.*'}, 'meta': ...}).")
    parser.add_argument('family', choices=sorted(CONVERTERS), help='backbone family')
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an earlier conversion at dst (any other file is kept)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='read a src that holds pickled objects (weights_only=False); only '
                        'for a file you trust')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        meta = convert_checkpoint(args.family, args.src, args.dst, overwrite=args.overwrite,
                                  trusted=args.trust_checkpoint)
    except ToolError as error:
        print(f'convert_ckpt: error: {error}', file=sys.stderr)
        return error.exit_code
    details = ', '.join(f'{k}={v}' for k, v in meta.items() if k not in ('family', 'converter'))
    print(f'wrote {args.dst} ({details})')
    if meta.get('legacy_repvggdw'):
        print('note: legacy RepVGGDW form; build the backbone with legacy_repvggdw=True')
    return 0


if __name__ == '__main__':
    sys.exit(main())
