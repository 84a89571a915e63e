"""MEGA tests run single-threaded: these models are tiny, and on a shared 2-core machine intra-op threads
oversubscribe the CPU (measured: a tiny training step takes 0.06 s on 1 thread, 0.6 s on 2 under load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
