"""Benchmarks: size, cost, latency and throughput of mmmobile models, side by side with peers.

:func:`run_benchmark` measures configs or registered variants (``tools/benchmark.py``);
:func:`write_outputs` writes the markdown table, CSV, JSON and plot; :func:`update_readme_zoo`
regenerates the README model zoo.
"""
from .hardware import matmul_peak_gflops
from .report import command_line, update_readme_zoo, write_outputs
from .runner import DEFAULT_MODES, MODES, compile_model, resolve_targets, run_benchmark
from .timing import interleaved_latency, markdown_table, summarize
from .zoo import PAPER_RESULTS, list_variants

__all__ = [
    'DEFAULT_MODES', 'MODES', 'PAPER_RESULTS', 'command_line', 'compile_model',
    'interleaved_latency', 'list_variants', 'markdown_table', 'matmul_peak_gflops',
    'resolve_targets', 'run_benchmark', 'summarize', 'update_readme_zoo', 'write_outputs'
]
