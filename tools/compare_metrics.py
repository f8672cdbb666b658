#!/usr/bin/env python
"""Print the metrics of finished tools/test.py runs side by side (e.g. PyTorch vs onnxruntime)."""
import argparse
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the metrics of the newest tools/test.py run in each work dir side by '
        'side; for two runs also their difference (second minus first).')
    parser.add_argument('runs', nargs='+', metavar='NAME=WORK_DIR',
                        help='a column name and the --work-dir of a tools/test.py run')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmmobile.deploy.runtime import latest_test_metrics, metrics_table
    from mmmobile.engine import USER_ERRORS
    runs = {}
    try:
        for spec in args.runs:
            name, sep, work_dir = spec.partition('=')
            if not sep or not name or not work_dir:
                print(f'compare_metrics: error: {spec!r} is not NAME=WORK_DIR', file=sys.stderr)
                return 2
            runs[name] = latest_test_metrics(work_dir)
    except USER_ERRORS as error:
        print(f'compare_metrics: error: {error}', file=sys.stderr)
        return getattr(error, 'exit_code', 1)
    for line in metrics_table(runs):
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
