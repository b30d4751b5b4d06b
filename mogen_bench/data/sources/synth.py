"""MoGen-Synth -> prepared dataset, through exactly the HuMMan-MoGen code path.

The generator (``mogen_bench.synth``) writes the HuMMan-MoGen release layout plus ``synth.json``; this
source is the HuMMan-MoGen source with the frame rate and up axis taken from ``synth.json`` instead of
options, and the generator's seed, configuration and held-out part combinations recorded as options.
"""

from __future__ import annotations

from pathlib import Path

from annotation.files import read_user_json
from mogen_bench.data.source import expected_tree_error
from mogen_bench.data.sources.humman_mogen import TREE, HummanMogenOptions, HummanMogenSource
from mogen_bench.errors import MogenBenchError

SYNTH_FILE = "synth.json"


def read_synth_meta(root: Path) -> dict:
    """The generator's ``synth.json`` of a MoGen-Synth folder; an error naming the file if unusable."""
    path = Path(root) / SYNTH_FILE
    if not path.is_file():
        raise expected_tree_error(
            "synth",
            Path(root),
            SYNTH_FILE,
            TREE + f"\n    {SYNTH_FILE}                           written by the MoGen-Synth generator",
            fix="generate the data with `mogen-bench prepare synth --out DIR` (it writes the raw folder too)",
        )
    meta = read_user_json(path, "synth.json")
    for key in ("fps", "up_axis", "seed", "config"):
        if key not in meta:
            raise MogenBenchError(f"missing {key!r}", file=str(path), field=key, fix="re-generate the data")
    return meta


class SynthSource(HummanMogenSource):
    """A MoGen-Synth folder (HuMMan-MoGen layout + ``synth.json``) as a ``Source``."""

    name = "synth"

    def __init__(self, root: str | Path, representation: str = "humanml3d-263"):
        self.meta = read_synth_meta(Path(root))
        options = HummanMogenOptions(
            representation=representation, source_fps=float(self.meta["fps"]), up_axis=self.meta["up_axis"]
        )
        super().__init__(root, options)

    def input_files(self) -> list[Path]:
        return [*super().input_files(), self.root / SYNTH_FILE]

    def options(self) -> dict:
        return {
            **super().options(),
            "synth": {
                "seed": self.meta["seed"],
                "config": self.meta["config"],
                "held_out_combinations": self.meta.get("held_out_combinations"),
            },
        }

    def split_rule(self) -> str:
        return f"{super().split_rule()}; test subjects alone see the held-out part combinations (synth.json)"
