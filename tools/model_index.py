#!/usr/bin/env python
"""Write (or check) model-index.yml and the per-family metafile.yml from the configs."""
import argparse
import os.path as osp
import sys
import warnings

# mmengine 0.10.7 imports pkg_resources (setuptools < 82 is pinned for it); its deprecation
# warning is noise for users of these tools.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the OpenMMLab model index (model-index.yml and '
        'configs/cls/<family>/metafile.yml) from the configs on disk and the official weights '
        'and paper results in mmmobile/model_index.py.')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 when a file is missing or out of date')
    parser.add_argument('--root', default=ROOT, help='repository root (default: this checkout)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmmobile.model_index import check_model_index, write_model_index
    try:
        if args.check:
            stale = check_model_index(args.root)
            if stale:
                print('model_index: error: out of date (run python tools/model_index.py): '
                      + ', '.join(stale), file=sys.stderr)
                return 1
            print('model index up to date')
            return 0
        for path in write_model_index(args.root):
            print(f'wrote {path}')
    except (ValueError, OSError) as error:
        print(f'model_index: error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
