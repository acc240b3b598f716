"""Run small numeric work on one thread.

The SID tokenizers multiply matrices of a few hundred rows: splitting them across threads saves
nothing, and on a busy machine the threads of torch and of sklearn's OpenMP k-means wait on each
other: on the loaded 2-core machine one thread trained the RQ-VAE several times faster than
torch's default two.
"""
from __future__ import annotations

import contextlib

import torch
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def single_threaded():
    """Limit torch and the native thread pools (OpenMP, BLAS) to one thread; restore afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)
