"""The machine's limits: fp32 matrix-multiply peak and load, measured once per benchmark run."""
import os
import statistics
import time
from typing import Dict, Optional

import torch


def matmul_peak_gflops(size: int = 2048, repeats: int = 5, threads: Optional[int] = None,
                       device: str = 'cpu') -> float:
    """Measured fp32 GEMM rate: the median of ``repeats`` ``size x size`` matrix products.

    A large square matmul is the best case of the BLAS library on this machine; a model's
    achieved FLOP/s as a fraction of it says how far the model is from the hardware limit.

    Args:
        size (int): Matrix side. Defaults to 2048 (2 x 2048^3 = 17.2 GFLOP per product).
        repeats (int): Timed products (after one warm-up). Defaults to 5.
        threads (int, optional): ``torch.set_num_threads`` while measuring (restored after).
            Defaults to the current setting.
        device (str): Device. Defaults to 'cpu'.

    Returns:
        float: GFLOP/s (one multiply-add counts as two FLOPs).
    """
    if size < 1 or repeats < 1:
        raise ValueError(f'size and repeats must be positive, got {size}, {repeats}')
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    cuda = str(device).startswith('cuda')
    rates = []
    try:
        with torch.inference_mode():
            for index in range(repeats + 1):
                if cuda:
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                torch.mm(a, b)
                if cuda:
                    torch.cuda.synchronize(device)
                if index:
                    rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(rates)


def machine_info(device: str, threads: int) -> Dict:
    """What the results were measured on: device name, threads, versions and load."""
    name = torch.cuda.get_device_name(device) if str(device).startswith('cuda') else (
        _cpu_model() or 'CPU')
    return dict(device=str(device), device_name=name, threads=threads,
                cpu_count=os.cpu_count(), torch=torch.__version__,
                omp_wait_policy=os.environ.get('OMP_WAIT_POLICY', 'unset'),
                load_average=os.getloadavg()[0])


def _cpu_model() -> Optional[str]:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return None
