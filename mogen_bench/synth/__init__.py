"""MoGen-Synth: procedurally generated fine-grained motion data in the exact HuMMan-MoGen release layout.

Every sequence is 1 to 4 stages of 1 to 3 s; in every stage each of the seven body parts performs a
movement primitive (the left arm raises forward, the head nods, the trajectory walks backward, ...) on the
SMPL skeleton, and the stage's texts are written from those primitives, so they match the motion by
construction. Sequences come with their mirrored copies, subjects are split by their id like a real
release, and a few part combinations are held out for the test split. Subjects differ in size: beta 0 of
the project's synthetic SMPL model (written beside the data as ``body_model/SMPL_NEUTRAL.npz``) is a
bone-length scale, and every motion is grounded on its subject's own skeleton (``subjects``, ``assemble``).
The data is z-up, 30 fps SMPL (``smpl_on_ground/*.npz``) with HuMMan-MoGen annotations
(``annotations/*.json``), optionally also in HumanML3D's layout.

    from mogen_bench.synth import SYNTH_PRESETS, write_synth
    write_synth("data/mogen_synth_tiny", "tiny")  # or SYNTH_PRESETS["small"].replace(seed=1)

Modules, one job each: ``config`` (settings and presets), ``catalogue`` (the primitives), ``primitives``
(primitive -> joint rotations), ``subjects`` (ids, splits, sizes, styles), ``heldout`` (held-out
combinations), ``sampling`` (drawing sequences), ``assemble`` (rotations -> grounded SMPL parameters),
``kinematics`` (shaped rest skeletons, fast forward kinematics), ``mirror_smpl`` (mirroring SMPL
parameters), ``texts`` and ``pos_tags`` (descriptions and HumanML3D tokens), ``generate`` (in memory),
``writer`` and ``humanml3d_export`` (disk).
"""

from mogen_bench.synth.config import SYNTH_PRESETS, SynthConfig, resolve_config
from mogen_bench.synth.generate import (
    SynthDataset,
    SynthMotion,
    generate_synth,
    iter_synth,
    mirror_annotation,
)
from mogen_bench.synth.mirror_smpl import mirror_axis_angle, mirror_smpl_params
from mogen_bench.synth.writer import write_synth

__all__ = [
    "SYNTH_PRESETS",
    "SynthConfig",
    "SynthDataset",
    "SynthMotion",
    "generate_synth",
    "iter_synth",
    "mirror_annotation",
    "mirror_axis_angle",
    "mirror_smpl_params",
    "resolve_config",
    "write_synth",
]
