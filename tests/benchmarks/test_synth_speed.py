"""Speed of MoGen-Synth: generating the ``small`` preset (600 sequences, 1,200 motions with the mirrors)
must take well under a minute on one CPU core.

These benchmarks time 60 sequences (a tenth of ``small``, so they stay quick as plain tests); multiply
by ten for the 600-sequence figure. Measured on the 2-core development machine with torch on one thread:
600 sequences take about 5 s of CPU time in memory (``generate_synth``) and 7 s written to disk
(``write_synth``, the synthetic body model included; 10 s of wall time while other jobs shared the
machine); the optional HumanML3D export adds about 5 s. Run with::

    python -m pytest tests/benchmarks/test_synth_speed.py --benchmark-enable
"""

from __future__ import annotations

import torch

from mogen_bench.synth import SYNTH_PRESETS, generate_synth, write_synth

SIXTY = SYNTH_PRESETS["small"].replace(num_sequences=60, num_subjects=6)


def _one_thread(function, *args):
    """Run ``function`` with torch on one thread (the "one CPU core" of the goal), then restore it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(threads)


def test_generate_60_sequences_in_memory(benchmark):
    dataset = benchmark(_one_thread, generate_synth, SIXTY)
    assert len(dataset.motions) == 120


def test_write_60_sequences(benchmark, tmp_path_factory):
    def write():
        return write_synth(tmp_path_factory.mktemp("synth") / "out", SIXTY)

    out = benchmark(_one_thread, write)
    assert len(list((out / "smpl_on_ground").iterdir())) == 120
