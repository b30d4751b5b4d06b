"""Checkpoints of the released FineMoGen code (mingyuan-zhang/FineMoGen, mmcv) as run folders of this one.

``convert_finemogen_official(CKPT, OUT, mean=..., std=...)`` is ``mogen-bench convert finemogen-official``:
it reads the released ``.pth`` (mmcv's ``{"meta", "state_dict"}`` or a bare state dict) with
``torch.load(weights_only=True)`` only, maps every tensor onto this implementation by an explicit table
(``released_key_table``: a released key that no rule reads, or a rule whose key is absent, is an error
that lists them), and writes a run folder that ``load_run`` / ``mogen-bench generate OUT`` read::

    OUT/config.json                       the paper preset resolved, the context, the dataset's Mean/Std
    OUT/checkpoints/step-00000000.pt      the converted weights (model name "finemogen")
    OUT/clip_text.safetensors             the CLIP ViT-B/32 text tower of the checkpoint (model.clip_weights)

The table (``L`` a layer 0..3, ``P = model.temporal_decoder_blocks.L``, ``i`` a token 0..7)::

    released key                                  this implementation                      how
    model.joint_embed.{tok}_embed.weight          pose_encoder.embed.{i}.weight            columns reordered
    model.joint_embed.{tok}_embed.bias            pose_encoder.embed.{i}.bias              copied
    model.out.{tok}_out.weight / .bias            pose_decoder.project.{i}.weight / .bias  rows reordered
    model.time_embed.{0,2}.*                      time_embed.{0,2}.*                       copied
    model.text_pre_proj.*                         text_adapter.project.*                   copied
    model.textTransEncoder.layers.{0,1}.*         text_adapter.encoder.layers.{0,1}.*      copied (same names)
    model.text_ln.*                               text_adapter.norm.*                      copied
    P.ca_block.{sigma,t_sigma,body_weight}        layers.L.sami.{sigma,t_sigma,body_weight} copied
    P.ca_block.{norm,text_norm}.*                 layers.L.sami.{norm,text_norm}.*         copied
    P.ca_block.template_{s,v,a,j,t}.{0,2}.*       layers.L.sami.template_*.{0,2}.*         copied
    P.ca_block.proj_out.*                         layers.L.sami.proj_out.*                 copied
    P.ca_block.{text,motion}_moe.<tutel key>      layers.L.sami.{text,motion}_moe.<key>    moe.RELEASED_KEYS
    P.ca_block.{text,motion}_moe.model._num_global_experts   (dropped)                    must equal 16
    P.ca_block.key_motion                         (dropped: SAMI never reads it)
    P.ffn.linear1_list.{h}.weight, h = 0..7       layers.L.ffn.ffn.weight1[h]              transposed, stacked
    P.ffn.linear1_list.{h}.bias                   layers.L.ffn.ffn.bias1[h]                stacked
    P.ffn.linear2_list.{h}.weight                 layers.L.ffn.ffn.weight2[h]              transposed, stacked
    P.ffn.linear2_list.{h}.bias                   layers.L.ffn.ffn.bias2[h]                stacked
    P.ffn.proj_out.*                              layers.L.ffn.proj_out.*                  copied
    model.clip.<text tower key> (149)             OUT/clip_text.safetensors <key>          open_clip's names
    model.clip.visual.*, model.clip.logit_scale   (dropped: the image tower)

Tokens. The released ``PoseEncoder`` concatenates head, stem, larm, rarm, lleg, rleg, root, body; this
model's tokens come in the same order (``pose.TOKEN_PARTS``), named anatomically: the released ``larm`` and
``lleg`` hold the SMPL *right* limbs (``larm = joints 14, 17, 19, 21``), so ``larm_embed`` becomes the
``right_arm`` token's layer (``FINEMOGEN_TOKEN_TO_PART``; KIT-ML the same). No 64-wide block moves, so SAMI,
the MoE position embeddings and the part FFNs copy unchanged.

Feature order. The released part slices list each joint's dims joint after joint (``get_part_slice``:
the ric position, 6D rotation and velocity of the first joint of the group, then the next joint, ...; the
``body`` slice likewise over joints 0..J-1), while this model's slices are sorted (``part_slices``; body =
0..dims-1). So the columns of every ``*_embed`` weight (body included) are permuted to the sorted order, and
the rows of the seven part ``*_out`` layers too. ``body_out`` is not: the released ``PoseDecoder`` adds the
whole-body reconstruction to the output as it is (``(output + body_feat) / 2``, no scatter through
``body_slice``), so its row ``k`` is feature ``k`` as here.

The released text transformer is sequence-first and this one batch-first: the same parameters. CLIP itself is
not part of a mogen-bench checkpoint (``ClipTextEncoder`` keeps only the weights' digest); its text tower goes
to ``clip_text.safetensors`` and ``config.json`` points ``model.clip_weights`` at it relative to the run
folder, so the converted run can be moved or copied whole. A checkpoint without ``model.clip.*`` needs
``clip_weights`` (OpenAI's ViT-B/32 in any file ``ClipTextEncoder`` reads).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from annotation.files import atomic_write_bytes, atomic_write_text
from finemogen.moe import RELEASED_KEYS
from finemogen.pose import TOKEN_PARTS
from mogen_bench import __version__
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.part_slices import (
    BODY,
    FINEMOGEN_TOKEN_TO_PART,
    FINEMOGEN_TOKENS,
    joint_feature_indices,
    part_slices,
)
from mogen_bench.training.checkpoint import FORMAT as CHECKPOINT_FORMAT
from mogen_bench.training.checkpoint import PickledObjects, UnreadableFile, load_weights_only

#: What ``mogen-bench convert`` calls this format.
FORMAT = "finemogen-official"
#: The representations the released code was trained on (its ``dataset_name`` human_ml3d / kit_ml).
REPRESENTATIONS = ("humanml3d-263", "kit-251")
#: Name of the CLIP text weights in a converted run folder.
CLIP_FILE = "clip_text.safetensors"
CLIP_PREFIX = "model.clip."
#: Entries of the released CLIP (``clip.load('ViT-B/32')``, the whole model) that the text tower does not use.
CLIP_DROPPED_PREFIXES = ("visual.", "logit_scale")

#: The released joint groups of each token, in the released order (``PoseEncoder.__init__``), by dataset.
RELEASED_JOINT_GROUPS: dict[str, dict[str, tuple[int, ...]]] = {
    "humanml3d-263": {
        "head": (12, 15),
        "stem": (3, 6, 9),
        "larm": (14, 17, 19, 21),
        "rarm": (13, 16, 18, 20),
        "lleg": (2, 5, 8, 11),
        "rleg": (1, 4, 7, 10),
        "root": (0,),
        "body": tuple(range(22)),
    },
    "kit-251": {
        "head": (4,),
        "stem": (1, 2, 3),
        "larm": (8, 9, 10),
        "rarm": (5, 6, 7),
        "lleg": (16, 17, 18, 19, 20),
        "rleg": (11, 12, 13, 14, 15),
        "root": (0,),
        "body": tuple(range(21)),
    },
}
#: What the released KIT-ML config changes against the HumanML3D one (``finemogen.md`` 2.13).
KIT_MODEL_SETTINGS = {"guidance": 4.5, "loss_reduction": "frame"}

#: The parameters of one ``nn.TransformerEncoderLayer`` (the released text layers and ours alike).
TEXT_LAYER_KEYS = (
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
)
_LINEAR = ("weight", "bias")


@dataclass(frozen=True)
class KeyRule:
    """How one tensor of ``FineMoGen.state_dict()`` is made from released tensors.

    ``how``: ``copy`` (one source as it is), ``columns`` / ``rows`` (one source, its columns / rows taken in
    ``order``: our column ``c`` is the released column ``order[c]``), ``stack`` / ``stack_transposed`` (the
    sources stacked along a new first axis, transposed first for ``nn.Linear`` weights).
    """

    target: str
    sources: tuple[str, ...]
    how: str = "copy"
    order: tuple[int, ...] = ()


def released_token_slices(representation: str) -> dict[str, tuple[int, ...]]:
    """Released token -> its feature dims in the released order (``get_part_slice`` of its joint group)."""
    groups = _released_groups(representation)
    joints = len(groups["body"])
    return {
        token: tuple(i for joint in groups[token] for i in joint_feature_indices(joint, joints))
        for token in FINEMOGEN_TOKENS
    }


def _released_groups(representation: str) -> dict[str, tuple[int, ...]]:
    if representation not in RELEASED_JOINT_GROUPS:
        raise MogenBenchError(
            f"the released FineMoGen code has no {representation!r} model",
            field="representation",
            fix=f"use one of {', '.join(REPRESENTATIONS)}",
        )
    return RELEASED_JOINT_GROUPS[representation]


def _pose_rules(representation: str) -> list[KeyRule]:
    if tuple(FINEMOGEN_TOKEN_TO_PART[t] for t in FINEMOGEN_TOKENS) != TOKEN_PARTS:  # pragma: no cover
        raise RuntimeError("the token order of finemogen.pose no longer follows the released one")
    released = released_token_slices(representation)
    ours = part_slices(representation)
    rules = []
    for index, token in enumerate(FINEMOGEN_TOKENS):
        part = FINEMOGEN_TOKEN_TO_PART[token]
        if sorted(released[token]) != sorted(ours[part]):  # pragma: no cover - checked by the tests
            raise RuntimeError(f"the released {token} slice and the {part} slice hold different dims")
        position = {dim: column for column, dim in enumerate(released[token])}
        # Our column c reads feature ours[c]; the released column reading it is position[ours[c]].
        columns = tuple(position[dim] for dim in ours[part])
        # The released body reconstruction is added unscattered (row k is feature k); parts are scattered.
        rows = tuple(ours[part]) if part == BODY else columns
        encoder, decoder = f"model.joint_embed.{token}_embed", f"model.out.{token}_out"
        embed, project = f"pose_encoder.embed.{index}", f"pose_decoder.project.{index}"
        rules.append(_reordered(f"{embed}.weight", f"{encoder}.weight", "columns", columns))
        rules.append(KeyRule(f"{embed}.bias", (f"{encoder}.bias",)))
        for kind in _LINEAR:
            rules.append(_reordered(f"{project}.{kind}", f"{decoder}.{kind}", "rows", rows))
    return rules


def _reordered(target: str, source: str, how: str, order: tuple[int, ...]) -> KeyRule:
    if order == tuple(range(len(order))):
        return KeyRule(target, (source,))
    return KeyRule(target, (source,), how, order)


def released_key_table(
    representation: str = "humanml3d-263", *, layers: int = 4, text_layers: int = 2, parts: int = 8
) -> tuple[list[KeyRule], dict[str, str]]:
    """The complete table for a released model of ``layers`` SAMI + SFFN blocks: the rules that make every
    tensor of this implementation, and the released keys that are read but not kept (key -> why).
    ``model.clip.*`` is not in it: that is the CLIP model, handled as a whole (``split_clip``)."""
    rules = _pose_rules(representation)

    def copy(source: str, target: str) -> None:
        rules.append(KeyRule(target, (source,)))

    for module in ("0", "2"):
        for kind in _LINEAR:
            copy(f"model.time_embed.{module}.{kind}", f"time_embed.{module}.{kind}")
    for kind in _LINEAR:
        copy(f"model.text_pre_proj.{kind}", f"text_adapter.project.{kind}")
        copy(f"model.text_ln.{kind}", f"text_adapter.norm.{kind}")
    for layer in range(text_layers):
        for key in TEXT_LAYER_KEYS:
            copy(f"model.textTransEncoder.layers.{layer}.{key}", f"text_adapter.encoder.layers.{layer}.{key}")

    dropped: dict[str, str] = {}
    stylisation = [f"{part}.{kind}" for part in ("emb_layers.1", "norm", "out_layers.2") for kind in _LINEAR]
    for layer in range(layers):
        block = f"model.temporal_decoder_blocks.{layer}"
        sami, ffn = f"layers.{layer}.sami", f"layers.{layer}.ffn"
        attention = f"{block}.ca_block"
        for name in ("sigma", "t_sigma", "body_weight"):
            copy(f"{attention}.{name}", f"{sami}.{name}")
        for name in ("norm", "text_norm"):
            for kind in _LINEAR:
                copy(f"{attention}.{name}.{kind}", f"{sami}.{name}.{kind}")
        for name in ("template_s", "template_v", "template_a", "template_j", "template_t"):
            for module in ("0", "2"):
                for kind in _LINEAR:
                    copy(f"{attention}.{name}.{module}.{kind}", f"{sami}.{name}.{module}.{kind}")
        for key in stylisation:
            copy(f"{attention}.proj_out.{key}", f"{sami}.proj_out.{key}")
            copy(f"{block}.ffn.proj_out.{key}", f"{ffn}.proj_out.{key}")
        for moe in ("text_moe", "motion_moe"):
            for released, ours in RELEASED_KEYS.items():
                copy(f"{attention}.{moe}.{released}", f"{sami}.{moe}.{ours}")
            dropped[f"{attention}.{moe}.model._num_global_experts"] = "tutel's expert count (checked)"
        dropped[f"{attention}.key_motion"] = "a SAMI parameter the released forward never reads"
        for number, linear in (("1", "linear1_list"), ("2", "linear2_list")):
            heads = [f"{block}.ffn.{linear}.{h}" for h in range(parts)]
            rules.append(
                KeyRule(f"{ffn}.ffn.weight{number}", tuple(f"{k}.weight" for k in heads), "stack_transposed")
            )
            rules.append(KeyRule(f"{ffn}.ffn.bias{number}", tuple(f"{k}.bias" for k in heads), "stack"))
    return rules, dropped


# --------------------------------------------------------------------------------------------- converting
@dataclass
class ConvertedState:
    """``convert_state_dict``'s result."""

    #: ``FineMoGen.state_dict()`` entries (all but the text encoder's ``_extra_state``).
    model: dict[str, torch.Tensor]
    #: The CLIP text tower in open_clip's names (empty when the checkpoint holds no ``model.clip.*``).
    clip: dict[str, torch.Tensor]
    #: Released keys read and not kept.
    dropped: list[str]
    rules: list[KeyRule] = field(default_factory=list)


def detect_representation(state: Mapping[str, torch.Tensor]) -> str:
    """``humanml3d-263`` or ``kit-251`` from the width of the released whole-body embedding."""
    key = "model.joint_embed.body_embed.weight"
    weight = state.get(key)
    dims = {len(released_token_slices(r)["body"]): r for r in REPRESENTATIONS}
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2 or weight.shape[1] not in dims:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else None
        raise MogenBenchError(
            f"cannot tell the dataset of the checkpoint: {key} is {shape or 'missing'} "
            f"(HumanML3D: (64, 263), KIT-ML: (64, 251))",
            field="representation",
            fix="check that this is a FineMoGen checkpoint (released configs finemogen_t2m / finemogen_kit)",
        )
    return dims[weight.shape[1]]


def split_clip(state: Mapping[str, torch.Tensor]) -> tuple[dict, dict, list[str]]:
    """(the state without ``model.clip.*``, the CLIP text tower under open_clip's names, dropped keys)."""
    rest, clip, dropped = {}, {}, []
    for key, value in state.items():
        if not key.startswith(CLIP_PREFIX):
            rest[key] = value
        elif key[len(CLIP_PREFIX) :].startswith(CLIP_DROPPED_PREFIXES):
            dropped.append(key)
        else:
            clip[key[len(CLIP_PREFIX) :]] = value
    return rest, clip, dropped


def convert_state_dict(
    state: Mapping[str, torch.Tensor],
    representation: str | None = None,
    *,
    layers: int = 4,
    text_layers: int = 2,
    num_experts: int = 16,
    source: str = "the checkpoint",
) -> ConvertedState:
    """Map a released state dict (``model.*`` keys) onto this implementation (module docstring).

    Every released key must be read by a rule or dropped on purpose and every rule must find its keys: a
    ``MogenBenchError`` listing the missing and unexpected keys otherwise (``source`` names the file).
    """
    representation = representation or detect_representation(state)
    rest, clip, dropped = split_clip(state)
    rules, skipped = released_key_table(representation, layers=layers, text_layers=text_layers)
    wanted = [key for rule in rules for key in rule.sources] + list(skipped)
    missing = [key for key in wanted if key not in rest]
    known = set(wanted)
    unexpected = [key for key in rest if key not in known]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {listing(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys: {listing(unexpected)}")
        raise MogenBenchError(
            f"does not hold the released FineMoGen model ({representation}, {layers} layers): "
            + "; ".join(problems),
            file=source,
            fix="give a checkpoint of mingyuan-zhang/FineMoGen's configs/finemogen (finemogen_t2m / _kit)",
        )
    for key in skipped:
        if key.endswith("_num_global_experts"):
            value = rest[key]
            count = int(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else None
            if count != num_experts:
                raise MogenBenchError(
                    f"{key} is {count if count is not None else value!r}, not the {num_experts} experts of "
                    "the released configuration",
                    file=source,
                    fix="give a checkpoint of the released FineMoGen configuration (16 experts, top-2)",
                )
    model = {rule.target: _apply(rule, [rest[key] for key in rule.sources], source) for rule in rules}
    return ConvertedState(model=model, clip=clip, dropped=[*skipped, *dropped], rules=rules)


def _apply(rule: KeyRule, tensors: list[torch.Tensor], source: str) -> torch.Tensor:
    def refuse(expected: str) -> MogenBenchError:
        shapes = ", ".join(f"{key} {tuple(t.shape)}" for key, t in zip(rule.sources, tensors, strict=True))
        return MogenBenchError(
            f"{shapes}: expected {expected} for {rule.target}",
            file=source,
            fix="give a checkpoint of the released FineMoGen configuration",
        )

    if any(not isinstance(t, torch.Tensor) for t in tensors):
        raise refuse("tensors")
    if rule.how == "copy":
        return tensors[0]
    if rule.how in ("columns", "rows"):
        tensor, axis = tensors[0], 1 if rule.how == "columns" else 0
        if tensor.ndim <= axis or tensor.shape[axis] != len(rule.order):
            raise refuse(f"{len(rule.order)} {rule.how}")
        order = torch.tensor(rule.order, device=tensor.device)
        return tensor.index_select(axis, order)
    matrices = rule.how != "stack_transposed" or tensors[0].ndim == 2
    if not matrices or any(t.shape != tensors[0].shape for t in tensors):
        raise refuse(f"{len(tensors)} {'tensors' if matrices else 'matrices'} of one shape")
    if rule.how == "stack_transposed":
        tensors = [t.T for t in tensors]
    # Slice by slice into one new tensor (torch.stack on meta tensors, as the tests use, is slow to start).
    stacked = tensors[0].new_empty((len(tensors), *tensors[0].shape))
    for index, tensor in enumerate(tensors):
        stacked[index].copy_(tensor)
    return stacked


# ---------------------------------------------------------------------------------------------- reading
def read_released_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict of a released checkpoint file, and the top-level entries not read (mmcv's ``meta``,
    ``optimizer``). ``torch.load(weights_only=True)`` only: a file that needs pickled objects is refused."""
    path = Path(path)
    if path.is_dir():
        raise MogenBenchError(
            "is a folder, not a checkpoint file",
            file=str(path),
            fix="give the released .pth file (e.g. logs/finemogen/finemogen_t2m/latest.pth)",
        )
    if not path.is_file():
        raise MogenBenchError("no such checkpoint", file=str(path), fix="check the path")
    try:
        loaded = load_weights_only(path, "cpu")
    except PickledObjects as exc:
        raise MogenBenchError(
            f"holds pickled Python objects ({exc.name}) besides tensors; they are never loaded "
            "(unpickling can run code)",
            file=str(path),
            fix='if you trust the file, keep its weights only: python -c "import torch; '
            "c = torch.load('IN.pth', weights_only=False); torch.save(c['state_dict'], 'OUT.pth')\", "
            "then convert OUT.pth",
        ) from None
    except UnreadableFile:
        raise _unreadable(path) from None
    ignored: list[str] = []
    if isinstance(loaded, dict) and loaded.get("format") == CHECKPOINT_FORMAT:
        raise MogenBenchError(
            "is a mogen-bench checkpoint already, not a released FineMoGen one",
            file=str(path),
            fix="use its run folder directly (mogen-bench generate RUN_DIR ...)",
        )
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), Mapping):
        ignored = sorted(str(key) for key in loaded if key != "state_dict")
        state = dict(loaded["state_dict"])
    elif isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        state = dict(loaded)
    else:
        what = (
            f"a dict with keys {listing([repr(k) for k in loaded])}"
            if isinstance(loaded, dict)
            else (f"a {type(loaded).__name__}")
        )
        raise MogenBenchError(
            f"is neither an mmcv checkpoint ({{'meta', 'state_dict'}}) nor a state dict: {what}",
            file=str(path),
            fix="give the .pth that the released FineMoGen code saved",
        )
    state = {str(key): value for key, value in state.items()}
    others = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise MogenBenchError(
            f"state dict entries that are not tensors: {listing(others)}",
            file=str(path),
            fix="give the .pth that the released FineMoGen code saved",
        )
    # A model saved inside DistributedDataParallel without mmcv's unwrapping.
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state, ignored


def _unreadable(path: Path) -> MogenBenchError:
    return MogenBenchError(
        "cannot read the checkpoint: the file is corrupt or truncated, or not a PyTorch file",
        file=str(path),
        fix="download or copy the released checkpoint again",
    )


_STATISTICS_FIX = (
    "give --mean and --std: the Mean.npy and Std.npy of the dataset release the checkpoint was trained on "
    "(HumanML3D or KIT-ML; the released model predicts normalised features)"
)


def require_statistics(mean: str | Path | None, std: str | Path | None) -> None:
    """A ``MogenBenchError`` naming the statistics file that was not given."""
    for name, path in (("mean", mean), ("std", std)):
        if path is None:
            raise MogenBenchError(
                f"the dataset's normalisation {name} is needed and was not given",
                field=name,
                fix=_STATISTICS_FIX,
            )


def read_statistics(
    mean: str | Path | None, std: str | Path | None, dims: int
) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's ``Mean.npy`` / ``Std.npy``: ``(dims,)`` finite float32 arrays, the std positive."""
    require_statistics(mean, std)
    arrays = []
    for name, path in (("mean", mean), ("std", std)):
        path = Path(path)
        if not path.is_file():
            raise MogenBenchError(f"no such {name} file", file=str(path), field=name, fix=_STATISTICS_FIX)
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise MogenBenchError(
                f"cannot read the {name} as a .npy array ({exc})",
                file=str(path),
                field=name,
                fix=_STATISTICS_FIX,
            ) from None
        if array.shape != (dims,) or not np.issubdtype(array.dtype, np.number):
            raise MogenBenchError(
                f"the {name} has shape {array.shape} ({array.dtype}), not ({dims},)",
                file=str(path),
                field=name,
                fix=_STATISTICS_FIX,
            )
        array = array.astype(np.float32)
        bad = not np.isfinite(array).all() or (name == "std" and not (array > 0).all())
        if bad:
            what = "non-positive or non-finite" if name == "std" else "non-finite"
            raise MogenBenchError(
                f"the {name} holds {what} values", file=str(path), field=name, fix=_STATISTICS_FIX
            )
        arrays.append(array)
    return arrays[0], arrays[1]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def listing(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown}, ... ({len(items) - limit} more)" if len(items) > limit else shown


# --------------------------------------------------------------------------------------------- run folder
@dataclass
class ConversionResult:
    """What ``convert_finemogen_official`` wrote and read."""

    run_dir: Path
    checkpoint: Path
    clip_weights: Path
    representation: str
    #: Released tensors (outside ``model.clip``) read into the model / tensors of this model written.
    released_tensors: int
    model_tensors: int
    #: CLIP text-tower entries written to ``clip_text.safetensors`` (0 when ``clip_weights`` was given).
    clip_tensors: int
    #: Released keys read and not kept (``key_motion``, ``_num_global_experts``, CLIP's image tower).
    dropped: list[str]


def convert_finemogen_official(
    checkpoint: str | Path,
    out: str | Path,
    *,
    mean: str | Path | None = None,
    std: str | Path | None = None,
    representation: str | None = None,
    clip_weights: str | Path | None = None,
    model_settings: Mapping[str, object] | None = None,
) -> ConversionResult:
    """Write the run folder ``out`` (new or empty) from a released FineMoGen checkpoint (module docstring).

    ``representation``: ``humanml3d-263`` or ``kit-251`` (default: told by the checkpoint's shapes).
    ``clip_weights``: a CLIP ViT-B/32 weights file, for a checkpoint without ``model.clip.*``.
    ``model_settings``: ``[model]`` settings over the paper preset that do not change the weights
    (sampling steps, guidance, the text cache); sizes that differ from the checkpoint's are refused.
    """
    from finemogen.config import FineMoGenConfig
    from finemogen.model import FineMoGen
    from mogen_bench.data.torch_dataset import MotionDataConfig
    from mogen_bench.models.base import ModelContext
    from mogen_bench.models.registry import load_preset
    from mogen_bench.motion.representations import get_representation
    from mogen_bench.training.checkpoint import checkpoint_path, save_checkpoint
    from mogen_bench.training.config import TrainConfig, resolve_sections
    from mogen_bench.training.run import CONFIG_FILE, sections_for_config

    checkpoint, out = Path(checkpoint), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MogenBenchError(
            "the output folder exists and is not empty",
            file=str(out),
            fix="give a new folder for the converted run",
        )
    if representation is not None and representation not in REPRESENTATIONS:
        raise MogenBenchError(
            f"the released FineMoGen code has no {representation!r} model",
            field="representation",
            fix=f"use one of {', '.join(REPRESENTATIONS)}",
        )
    require_statistics(mean, std)  # before reading a large file
    state, ignored = read_released_checkpoint(checkpoint)
    if representation is None:
        representation = detect_representation(state)
    elif "model.joint_embed.body_embed.weight" in state:
        detected = detect_representation(state)
        if detected != representation:
            raise MogenBenchError(
                f"is a {detected} model, not {representation} (its whole-body embedding reads "
                f"{state['model.joint_embed.body_embed.weight'].shape[1]} features)",
                file=str(checkpoint),
                fix=f"give --representation {detected}, or leave it out",
            )
    spec = get_representation(representation)
    mean_array, std_array = read_statistics(mean, std, spec.dims)

    settings = dict(KIT_MODEL_SETTINGS) if representation == "kit-251" else {}
    settings.update(model_settings or {})
    sections = resolve_sections(
        {"model": FineMoGenConfig, "train": TrainConfig, "data": MotionDataConfig},
        load_preset(FineMoGen, "paper"),
        {"model": settings},
        sources=["finemogen paper preset", "converter settings"],
    )
    config: FineMoGenConfig = sections["model"]
    converted = convert_state_dict(
        state,
        representation,
        layers=config.layers,
        text_layers=config.text_layers,
        num_experts=config.num_experts,
        source=str(checkpoint),
    )
    del state
    if converted.clip and clip_weights is not None:
        raise MogenBenchError(
            "the checkpoint holds its CLIP text tower (model.clip.*) and --clip-weights was given too",
            file=str(checkpoint),
            fix="leave out --clip-weights: the checkpoint's own CLIP is written to the run folder",
        )
    if not converted.clip and clip_weights is None:
        raise MogenBenchError(
            "the checkpoint holds no CLIP weights (model.clip.*) and no --clip-weights file was given",
            file=str(checkpoint),
            field="clip_weights",
            fix="pass OpenAI's ViT-B/32 weights with --clip-weights PATH (the CLIP the released model reads)",
        )

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        if converted.clip:
            clip_path = (out / CLIP_FILE).resolve()
            _write_clip(converted.clip, clip_path, checkpoint)
        else:
            clip_path = Path(clip_weights).expanduser().resolve()
        config = sections["model"] = replace(config, clip_weights=str(clip_path))
        context = ModelContext(
            representation=representation,
            dims=spec.dims,
            fps=spec.fps,
            max_frames=sections["data"].max_frames,
            part_slices={name: list(dims) for name, dims in part_slices(representation).items()},
        )
        model = FineMoGen(config, context)
        _load(model, converted, str(checkpoint))
        digest = file_sha256(checkpoint)
        origin = {"format": FORMAT, "checkpoint": str(checkpoint.resolve()), "sha256": digest}
        saved = save_checkpoint(
            checkpoint_path(out, 0),
            {
                "model_name": FineMoGen.name,
                "step": 0,
                "model": model.state_dict(),
                "ema": None,
                "converted_from": origin,
            },
        )
        train = sections["train"]
        run_config = {
            "model": FineMoGen.name,
            "config": sections_for_config(sections, out),
            "context": context.to_dict(),
            "dataset": {
                "path": None,
                "name": "humanml3d" if representation == "humanml3d-263" else "kit-ml",
                "source": "humanml3d" if representation == "humanml3d-263" else "kit-ml",
                "representation": representation,
                "fingerprint": None,
            },
            "normalisation": {
                "mean": mean_array.tolist(),
                "std": std_array.tolist(),
                "applied": bool(sections["data"].normalise),
            },
            "world_size": 1,
            "global_batch": train.batch_size * train.accumulate,
            "tool": {"name": "mogen-bench", "version": __version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "converted_from": {
                **origin,
                "mean": str(Path(mean).resolve()),
                "std": str(Path(std).resolve()),
                "clip_weights": str(clip_path),
                "ignored_entries": ignored,
                "dropped_keys": len(converted.dropped),
            },
        }
        atomic_write_text(out / CONFIG_FILE, json.dumps(run_config, indent=2) + "\n")
    except BaseException:
        # Leave nothing half-made: the folder was new or empty, so everything in it is ours.
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
    return ConversionResult(
        run_dir=out,
        checkpoint=saved,
        clip_weights=clip_path,
        representation=representation,
        released_tensors=len({key for rule in converted.rules for key in rule.sources}),
        model_tensors=len(converted.model),
        clip_tensors=len(converted.clip),
        dropped=converted.dropped,
    )


def _write_clip(clip: Mapping[str, torch.Tensor], path: Path, checkpoint: Path) -> None:
    from safetensors.torch import save

    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in clip.items()}
    atomic_write_bytes(path, save(tensors, metadata={"source": f"{checkpoint.name} model.clip (text tower)"}))


def _load(model: torch.nn.Module, converted: ConvertedState, source: str) -> None:
    """Load ``converted`` into ``model`` strictly, or a ``MogenBenchError`` naming what does not fit."""
    target = model.state_dict()
    # Non-tensor states (the CLIP encoder's record of its weights) are the model's own, not the checkpoint's.
    extra = {key: value for key, value in target.items() if key.endswith("_extra_state")}
    sources = {rule.target: rule.sources for rule in converted.rules}
    missing = [key for key in target if key not in converted.model and key not in extra]
    unexpected = [key for key in converted.model if key not in target]
    wrong = [
        f"{sources[key][0]}{' ...' if len(sources[key]) > 1 else ''} -> {key} {tuple(value.shape)} "
        f"(expected {tuple(target[key].shape)})"
        for key, value in converted.model.items()
        if key in target and value.shape != target[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors of this FineMoGen that no rule makes: {listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors this FineMoGen does not have: {listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} with other shapes: {listing(wrong)}")
    if problems:
        raise MogenBenchError(
            "the converted weights do not fit the paper preset of FineMoGen: " + "; ".join(problems),
            file=source,
            fix="give a checkpoint of the released configuration (configs/finemogen/finemogen_t2m.py, _kit)",
        )
    model.load_state_dict({**converted.model, **extra}, strict=True)
