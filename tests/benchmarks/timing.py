"""Timing helpers shared by the model benchmarks: FLOP counts, wall and CPU seconds, pinned threads."""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(function, *args) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        function(*args)
    return counter.get_total_flops()


def timed(function) -> tuple[object, float, float]:
    """``function()``, its wall seconds and the CPU seconds of this process (all threads) it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def fastest(function, repeats: int) -> tuple[float, float]:
    """The fewest wall and CPU seconds of ``repeats`` calls after one warm-up call (each minimum on its
    own: other jobs on a shared machine only ever add time)."""
    function()
    runs = [timed(function)[1:] for _ in range(repeats)]
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


class Recorded:
    """``function`` that keeps the wall and CPU seconds of every call (the benchmark's own calls)."""

    def __init__(self, function):
        self.function, self.times = function, []

    def __call__(self):
        result, wall, cpu = timed(self.function)
        self.times.append((wall, cpu))
        return result

    def fewest(self) -> tuple[float, float]:
        return min(wall for wall, _ in self.times), min(cpu for _, cpu in self.times)


def pinned_threads(count: int):
    """A module fixture that runs the module's benchmarks on ``count`` torch threads, then restores them."""

    @pytest.fixture(scope="module", autouse=True)
    def threads():
        before = torch.get_num_threads()
        torch.set_num_threads(count)
        yield
        torch.set_num_threads(before)

    return threads
