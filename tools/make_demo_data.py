"""Generate the deterministic synthetic demo datasets (COCO, ADE20K and ImageNet layouts).

Examples::

    python tools/make_demo_data.py                       # all tasks into data/demo
    python tools/make_demo_data.py --tasks det --num-train 20 --num-val 5 --out /tmp/demo
    python tools/make_demo_data.py --num-train det=100 seg=40 --img-size cls=96 --overwrite

The layouts and label conventions are described in :mod:`mmmobile.demo.data`.
"""
import argparse
import sys
from typing import Dict, List, Optional

from mmmobile.demo import DEFAULT_SIZES, TASK_DIRS, TASKS, make_demo_data
from mmmobile.utils import ToolError

PROG = 'make_demo_data'


def per_task_int(text: str) -> str:
    """Check one ``N`` or ``TASK=N`` value of a per-task option (kept as text)."""
    task, _, number = text.rpartition('=')
    if task and task not in TASKS:
        raise argparse.ArgumentTypeError(
            f'unknown task {task!r} in {text!r}; choose from {", ".join(TASKS)}')
    try:
        int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer or TASK=INTEGER') from None
    return text


def sizes_from_args(args: argparse.Namespace) -> Dict[str, int]:
    """``--num-train 5 det=7`` -> ``dict(num_train=5, det_num_train=7)`` for ``make_demo_data``."""
    sizes: Dict[str, int] = {}
    for field in ('num_train', 'num_val', 'img_size'):
        for text in getattr(args, field) or []:
            task, _, number = text.rpartition('=')
            sizes[f'{task}_{field}' if task else field] = int(number)
    return sizes


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    defaults = ', '.join(f'{t} {s["num_train"]}/{s["num_val"]} images of {s["img_size"]} px'
                         for t, s in DEFAULT_SIZES.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Generate deterministic synthetic demo datasets (3 shape classes: circle, '
        'square, triangle) in the COCO (det), ADE20K (seg) and ImageNet (cls) layouts. '
        f'Defaults (train/val): {defaults}.')
    parser.add_argument('--out', default='data/demo',
                        help='output root; gets coco/, ade/, imagenet/ (default: data/demo)')
    parser.add_argument('--seed', type=int, default=0, help='random seed >= 0 (default: 0)')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=list(TASKS),
                        help='tasks to generate (default: all)')
    for flag, what in (('--num-train', 'training images'), ('--num-val', 'validation images'),
                       ('--img-size', 'image side in pixels')):
        parser.add_argument(flag, nargs='+', type=per_task_int, metavar='[TASK=]N',
                            help=f'{what}: N for all tasks or TASK=N for one task')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate demo folders that were made with other settings '
                        '(folders not made by this tool are never touched)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bars')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        states = make_demo_data(args.out, tasks=args.tasks, seed=args.seed,
                                overwrite=args.overwrite, progress=not args.no_progress,
                                **sizes_from_args(args))
    except ToolError as error:
        print(f'{PROG}: error: {error}', file=sys.stderr)
        return error.exit_code
    except OSError as error:
        print(f'{PROG}: error: {error}', file=sys.stderr)
        return 1
    for task, state in states.items():
        print(f'{task}: {args.out}/{TASK_DIRS[task]} {state}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
