"""Interleaved CPU latency measurement.

On a shared machine with few cores, the latency of a model can swing several-fold between runs.
Timing the candidates alternately inside one loop exposes them to the same load, so their
*ratios* stay meaningful; medians discard the outliers.
"""
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch


def interleaved_latency(candidates: Dict[str, Callable[[], Any]],
                        warmup: int = 3,
                        repeats: int = 20,
                        threads: Optional[int] = None) -> Dict[str, List[float]]:
    """Time each candidate ``repeats`` times, alternating between them, after ``warmup`` rounds.

    Runs under ``torch.inference_mode()``.

    Args:
        candidates (dict): Name -> zero-argument callable (e.g. ``lambda: model(x)``).
        warmup (int): Untimed rounds over all candidates first. Defaults to 3.
        repeats (int): Timed rounds. Defaults to 20.
        threads (int, optional): ``torch.set_num_threads`` during the measurement (restored
            afterwards). Defaults to the current setting.

    Returns:
        dict: Name -> list of ``repeats`` wall-clock times in milliseconds.
    """
    if repeats < 1:
        raise ValueError(f'repeats must be positive, got {repeats}')
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    times: Dict[str, List[float]] = {name: [] for name in candidates}
    try:
        with torch.inference_mode():
            for round_index in range(warmup + repeats):
                for name, fn in candidates.items():
                    start = time.perf_counter()
                    fn()
                    elapsed = (time.perf_counter() - start) * 1e3
                    if round_index >= warmup:
                        times[name].append(elapsed)
    finally:
        torch.set_num_threads(previous)
    return times


def median(values: Sequence[float]) -> float:
    """Median of ``values``."""
    return statistics.median(values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format ``rows`` under ``header`` as a GitHub markdown table."""
    lines = ['| ' + ' | '.join(str(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)
