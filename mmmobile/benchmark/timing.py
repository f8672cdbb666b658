"""Interleaved CPU latency measurement, and the peak memory of one call.

On a shared machine with few cores, the latency of a model can swing several-fold between runs.
Timing the candidates alternately inside one loop exposes them to the same load, so their
*ratios* stay meaningful; medians discard the outliers.
"""
import contextlib
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

#: How :func:`peak_memory` measures, per device type (quoted in the benchmark's output).
MEMORY_METHODS = {
    'cpu': 'torch.profiler memory events (profile_memory=True): the most bytes held by tensors '
    "of torch's CPU allocator during the call, above what was allocated when it began",
    'cuda': 'torch.cuda.max_memory_allocated() during the call minus memory_allocated() before it',
}


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


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a scratch file: kineto logs its start and stop from C++."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def memory_method(device: str) -> str:
    """How :func:`peak_memory` measures on ``device`` (quoted in the benchmark's output)."""
    return MEMORY_METHODS['cuda' if str(device).startswith('cuda') else 'cpu']


def peak_memory(fn: Callable[[], Any], device: str = 'cpu') -> int:
    """Peak bytes that one call of ``fn`` allocates above what is allocated when it starts.

    On CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus
    ``memory_allocated`` before the call. On the CPU (torch keeps no allocator statistics there):
    the allocation and free events of the profiler (``profile_memory=True``), summed in time
    order; their running maximum is the peak. Both count tensor memory only (not the process's
    resident set: no allocator caches, oneDNN scratch buffers or code), so the number depends
    only on ``fn``, not on other models held by the process (:data:`MEMORY_METHODS`).

    Args:
        fn (callable): Zero-argument call, run once (gradients are whatever ``fn`` enables).
        device (str): ``'cpu'`` or the CUDA device ``fn`` runs on. Defaults to 'cpu'.

    Returns:
        int: Bytes (0 when ``fn`` allocates nothing it keeps at any moment).
    """
    if str(device).startswith('cuda'):
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - before)
    from torch.autograd import DeviceType
    cpu_types = {DeviceType.CPU, DeviceType.MKLDNN, DeviceType.IDEEP}
    profiler = torch.autograd.profiler.profile(profile_memory=True)
    with _quiet_stderr():
        profiler.__enter__()
    try:
        fn()
    finally:
        with _quiet_stderr():
            profiler.__exit__(None, None, None)
    records = sorted((e for e in profiler.kineto_results.events()
                      if e.name() == '[memory]' and e.device_type() in cpu_types),
                     key=lambda e: e.start_ns())
    held = peak = 0
    for record in records:
        held += record.nbytes()
        peak = max(peak, held)
    return peak


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
