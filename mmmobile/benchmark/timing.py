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
                        threads: Optional[int] = None,
                        device: str = 'cpu',
                        progress: Optional[Callable[[], None]] = None) -> Dict[str, List[float]]:
    """Time each candidate ``repeats`` times, alternating between them, after ``warmup`` rounds.

    Runs under ``torch.inference_mode()``. On CUDA each call is timed with CUDA events and the
    device is synchronized after it; on the CPU with ``time.perf_counter``.

    Args:
        candidates (dict): Name -> zero-argument callable (e.g. ``lambda: model(x)``).
        warmup (int): Untimed rounds over all candidates first. Defaults to 3.
        repeats (int): Timed rounds. Defaults to 20.
        threads (int, optional): ``torch.set_num_threads`` during the measurement (restored
            afterwards). Defaults to the current setting.
        device (str): ``'cpu'`` or a CUDA device the candidates run on. Defaults to 'cpu'.
        progress (callable, optional): Called once after every round (e.g. a progress bar's
            ``update``). Defaults to None.

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
                    elapsed = _time_call(fn, device)
                    if round_index >= warmup:
                        times[name].append(elapsed)
                if progress is not None:
                    progress()
    finally:
        torch.set_num_threads(previous)
    return times


def _time_call(fn: Callable[[], Any], device: str) -> float:
    """Milliseconds one call of ``fn`` takes on ``device``."""
    if str(device).startswith('cuda'):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end)
    start_time = time.perf_counter()
    fn()
    return (time.perf_counter() - start_time) * 1e3


def summarize(values: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles, minimum and maximum of timings (milliseconds).

    Args:
        values (Sequence[float]): At least one timing.

    Returns:
        dict: ``median_ms``, ``q1_ms``, ``q3_ms``, ``min_ms``, ``max_ms``.
    """
    ordered = sorted(values)
    if len(ordered) > 1:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method='inclusive')
    else:
        q1 = q3 = ordered[0]
    return dict(median_ms=statistics.median(ordered), q1_ms=q1, q3_ms=q3, min_ms=ordered[0],
                max_ms=ordered[-1])


def median(values: Sequence[float]) -> float:
    """Median of ``values``."""
    return statistics.median(values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format ``rows`` under ``header`` as a GitHub markdown table."""
    lines = ['| ' + ' | '.join(str(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)
