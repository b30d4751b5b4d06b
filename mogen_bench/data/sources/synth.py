"""MoGen-Synth -> prepared dataset, through exactly the HuMMan-MoGen code path.

The generator (``mogen_bench.synth``) writes the HuMMan-MoGen release layout plus ``synth.json`` and the
synthetic SMPL body model its betas belong to (``body_model/SMPL_NEUTRAL.npz``); this source is the
HuMMan-MoGen source with the frame rate and up axis taken from ``synth.json`` instead of options, and the
generator's seed, configuration and held-out part combinations recorded as options.

Joints. Subjects differ in size (beta 0 of the synthetic model is a bone-length scale), so the joints must
see the betas; the built-in neutral skeleton would give every subject the same size. By default they are
the joints of the tree's own body model with each sequence's betas, computed from the model's joint
regressor: ``J(betas) = J_regressor (v_template + shapedirs betas)``, posed with SMPL's kinematics
(``synth.kinematics.smpl_params_joints``). That is what ``smplx`` computes for the model's 24 joints (pose
blend shapes never move joints; the tests check agreement with the smplx path to 1e-6 m) without skinning
6,890 vertices per frame. ``smpl_model`` (``--smpl-model``) instead runs another SMPL model through
``smplx``, as ``prepare humman-mogen`` does; the betas are the synthetic model's, so the real SMPL reads
them as another body, whose feet need not touch the floor.
"""

from __future__ import annotations

from pathlib import Path

import torch

from annotation.files import read_user_json
from mogen_bench.data.source import expected_tree_error
from mogen_bench.data.sources.humman_mogen import TREE, HummanMogenOptions, HummanMogenSource
from mogen_bench.errors import MogenBenchError

SYNTH_FILE = "synth.json"
#: The body model the generator writes into its tree (``synth.writer.BODY_MODEL_DIR``).
BODY_MODEL_FILE = "body_model/SMPL_NEUTRAL.npz"
SYNTH_TREE = (
    TREE
    + f"\n    {BODY_MODEL_FILE}     the synthetic SMPL body model of the betas"
    + f"\n    {SYNTH_FILE}                           written by the MoGen-Synth generator"
)
_REGENERATE = "generate the data with `mogen-bench prepare synth --out DIR` (it writes the raw folder too)"


def read_synth_meta(root: Path) -> dict:
    """The generator's ``synth.json`` of a MoGen-Synth folder; an error naming the file if unusable."""
    path = Path(root) / SYNTH_FILE
    if not path.is_file():
        raise expected_tree_error("synth", Path(root), SYNTH_FILE, SYNTH_TREE, fix=_REGENERATE)
    meta = read_user_json(path, "synth.json")
    for key in ("fps", "up_axis", "seed", "config"):
        if key not in meta:
            raise MogenBenchError(f"missing {key!r}", file=str(path), field=key, fix="re-generate the data")
    return meta


class SynthSource(HummanMogenSource):
    """A MoGen-Synth folder (HuMMan-MoGen layout + ``synth.json`` + its body model) as a ``Source``."""

    name = "synth"

    def __init__(
        self,
        root: str | Path,
        representation: str = "humanml3d-263",
        smpl_model: str | Path | None = None,
        gender: str = "neutral",
    ):
        self.meta = read_synth_meta(Path(root))
        options = HummanMogenOptions(
            representation=representation,
            source_fps=float(self.meta["fps"]),
            up_axis=self.meta["up_axis"],
            smpl_model=Path(smpl_model) if smpl_model is not None else None,
            gender=gender,
        )
        super().__init__(root, options)
        self._shape = None

    @property
    def body_model_file(self) -> Path:
        """The tree's synthetic SMPL model (used unless ``smpl_model`` names another)."""
        return self.root / BODY_MODEL_FILE

    def check(self) -> None:
        super().check()
        if self.opts.smpl_model is None and not self.body_model_file.is_file():
            raise expected_tree_error(
                "synth",
                self.root,
                BODY_MODEL_FILE + " (MoGen-Synth before version 2.0 did not write it)",
                SYNTH_TREE,
                fix="regenerate the data with this version (`mogen-bench prepare synth --force ...`), or "
                "pass --smpl-model",
            )

    def input_files(self) -> list[Path]:
        files = [*super().input_files(), self.root / SYNTH_FILE]
        return files if self.opts.smpl_model is not None else [*files, self.body_model_file]

    def options(self) -> dict:
        joints = (
            super().options()["joints"]
            if self.opts.smpl_model is not None
            else f"synthetic body model {BODY_MODEL_FILE} (joint regressor, each sequence's betas)"
        )
        return {
            **super().options(),
            "joints": joints,
            "smpl_model": str(self.opts.smpl_model) if self.opts.smpl_model is not None else None,
            "synth": {
                "seed": self.meta["seed"],
                "config": self.meta["config"],
                "held_out_combinations": self.meta.get("held_out_combinations"),
            },
        }

    def split_rule(self) -> str:
        return f"{super().split_rule()}; test subjects alone see the held-out part combinations (synth.json)"

    def _joints(self, params: dict) -> torch.Tensor:
        if self.opts.smpl_model is not None:
            return super()._joints(params)
        from mogen_bench.synth.kinematics import ShapeSpace, smpl_params_joints

        if self._shape is None:
            self._shape = ShapeSpace.from_file(self.body_model_file)
        if params["betas"].shape[-1] != self._shape.num_betas:
            raise MogenBenchError(
                f"betas have {params['betas'].shape[-1]} components, the body model {self._shape.num_betas}",
                field="betas",
            )
        return torch.from_numpy(smpl_params_joints(params, self._shape))
