"""Command-line options shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os
from typing import List, Optional

from mmengine.config import DictAction


def add_runner_arguments(parser: argparse.ArgumentParser, dist_script: str) -> None:
    """Add ``--trust-checkpoint``, ``--cfg-options``, ``--launcher`` and ``--local-rank``.

    Args:
        parser: The tool's parser.
        dist_script: The launcher script that passes ``--launcher pytorch`` (for the help text).
    """
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with torch.load(weights_only=False); only for a checkpoint you '
        'trust that was written elsewhere and holds more than weights '
        '(also: MMMOBILE_TRUSTED_CHECKPOINT=1, or =PATH for one file)')
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
        help=f'job launcher ({dist_script} passes pytorch)')
    # torch.distributed.launch passes --local-rank (older versions --local_rank).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` for mmengine when the launcher did not."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args
