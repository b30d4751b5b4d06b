"""Benchmarks run torch on every core (``$MOGEN_BENCH_THREADS`` to change it), unlike the unit tests.

``tests/conftest.py`` puts torch on one thread for the tiny models of the unit tests; the speed goals are
about the machine, so each benchmark module starts from all its cores. Modules that measure on a set
number of threads (the MDM, FineMoGen and MoE benchmarks) set it in their own fixtures, after this one.
"""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _all_cores():
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("MOGEN_BENCH_THREADS", os.cpu_count() or 1)))
    yield
    torch.set_num_threads(before)
