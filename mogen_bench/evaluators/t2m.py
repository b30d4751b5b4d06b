"""The T2M evaluator of Guo et al. (CVPR 2022): the text and motion encoders behind HumanML3D metrics.

Plain-torch copies of ``TextEncoderBiGRUCo``, ``MovementConvEncoder`` and ``MotionEncoderBiGRUCo`` from
``text-to-motion:networks/modules.py``, with the official attribute names so the state dicts of
``checkpoints/<t2m|kit>/text_mot_match/model/finest.tar`` load with ``strict=True`` (names and shapes in
eval_protocol.md §3.2; sizes fixed by the official ``EvaluatorModelWrapper``, §3.1).

Two deliberate differences from the official forward passes, neither of which changes a number:

* Batches may come in any order. The official encoders call ``pack_padded_sequence`` with lengths that
  must already be sorted descending (the official collate sorts by text length, and ``get_co_embeddings``
  re-sorts by motion length and returns both embeddings in that motion order). Here packing uses
  ``enforce_sorted=False``: PyTorch sorts internally and un-sorts the final hidden states, so row ``i``
  of every output belongs to input row ``i``. Each sequence's GRU run is independent of the others, so
  the embeddings equal the official ones up to floating-point reduction order.
* The evaluator is frozen: it stays in eval mode (no dropout), and encoding runs without autograd.

Inputs follow the official protocol (§1.4, §3.4): motion features are normalised with the EVALUATOR
statistics (``meta/mean.npy``, ``meta/std.npy``), never the dataset's; generated motion is first
de-normalised with the model's own statistics (``renormalise``). The movement encoder sees
``features[..., :-4]`` (no foot contacts) and the motion GRU runs over ``lengths // 4`` movement tokens.
The text GRU runs over ``sent_len`` tokens (sos + words + eos), never the padded 22 (the ``cap_len`` bug).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mogen_bench.errors import MogenBenchError
from mogen_bench.training.checkpoint import PickledObjects, UnreadableFile, load_weights_only

#: Frames per movement token: two stride-2 convolutions.
UNIT_LENGTH = 4
#: How many entries of each kind a checkpoint-mismatch message lists.
_SHOW = 5


@dataclass(frozen=True)
class EvaluatorDims:
    """The sizes the official ``EvaluatorModelWrapper`` hard-codes, per dataset."""

    dim_pose: int  # feature dims of the motion representation (contacts included)
    dim_word: int = 300
    dim_pos_ohot: int = 15
    dim_text_hidden: int = 512
    dim_coemb_hidden: int = 512
    dim_movement_enc_hidden: int = 512
    dim_movement_latent: int = 512
    dim_motion_hidden: int = 1024


DIMS: dict[str, EvaluatorDims] = {"t2m": EvaluatorDims(dim_pose=263), "kit": EvaluatorDims(dim_pose=251)}
_ALIASES = {"t2m": "t2m", "humanml3d": "t2m", "humanml": "t2m", "kit": "kit", "kit-ml": "kit", "kitml": "kit"}
#: Where the official releases keep the evaluator statistics, relative to ``checkpoints/<dataset>/``.
_META_DIRS = {"t2m": ("Comp_v6_KLD01", "Comp_v6_KLD005"), "kit": ("Comp_v6_KLD005", "Comp_v6_KLD01")}


def _init_weight(module: nn.Module) -> None:
    # The official init (xavier-normal weights, zero bias); only matters for untrained evaluators.
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.xavier_normal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _cpu_lengths(
    lengths: torch.Tensor | Sequence[int] | np.ndarray, batch: int, limit: int, what: str
) -> torch.Tensor:
    lengths = torch.as_tensor(np.asarray(lengths) if not torch.is_tensor(lengths) else lengths).to("cpu")
    if lengths.shape != (batch,) or lengths.is_floating_point():
        raise MogenBenchError(
            f"{what} must be {batch} integers (one per row), got {tuple(lengths.shape)} {lengths.dtype}",
            field=what,
        )
    lengths = lengths.to(torch.int64)
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > limit):
        raise MogenBenchError(
            f"{what} must lie in [1, {limit}], got min {int(lengths.min())} max {int(lengths.max())}",
            field=what,
            fix="pass the true lengths, not the padded ones, and no empty sequences",
        )
    return lengths


class _BiGRUCo(nn.Module):
    """What the two official ``*BiGRUCo`` encoders share: a learned initial state, a BiGRU and an MLP head."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_size, output_size),
        )
        self.input_emb.apply(_init_weight)
        self.output_net.apply(_init_weight)
        self.hidden_size = hidden_size
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def _encode(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embs = self.input_emb(inputs)
        packed = pack_padded_sequence(embs, lengths, batch_first=True, enforce_sorted=False)
        h0 = self.hidden.repeat(1, inputs.shape[0], 1)
        # With enforce_sorted=False the GRU permutes h0 into sorted order and h_n back into input order.
        _, h_n = self.gru(packed, h0)
        return self.output_net(torch.cat([h_n[0], h_n[1]], dim=-1))


class TextEncoderBiGRUCo(_BiGRUCo):
    """Official ``TextEncoderBiGRUCo``: (word vector + Linear(POS one-hot)) -> BiGRU -> 512-d embedding."""

    def __init__(
        self, word_size: int = 300, pos_size: int = 15, hidden_size: int = 512, output_size: int = 512
    ):
        super().__init__(word_size, hidden_size, output_size)
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.pos_emb.apply(_init_weight)

    def forward(
        self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, cap_lens: torch.Tensor
    ) -> torch.Tensor:
        # The POS embedding is ADDED to the word vector, not concatenated (official).
        return self._encode(word_embs + self.pos_emb(pos_onehot), cap_lens)


class MovementConvEncoder(nn.Module):
    """Official ``MovementConvEncoder``: two k4/s2 convolutions and a Linear, (B, T, D) -> (B, T/4, 512)."""

    def __init__(self, input_size: int, hidden_size: int = 512, output_size: int = 512) -> None:
        super().__init__()
        # Indices 0 and 3 carry weights, as in the official Sequential (Conv, Dropout, LeakyReLU) x 2.
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)
        self.main.apply(_init_weight)
        self.out_net.apply(_init_weight)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(inputs.permute(0, 2, 1)).permute(0, 2, 1))


class MotionEncoderBiGRUCo(_BiGRUCo):
    """Official ``MotionEncoderBiGRUCo``: movement tokens -> BiGRU(1024) -> 512-d motion embedding."""

    def __init__(self, input_size: int = 512, hidden_size: int = 1024, output_size: int = 512) -> None:
        super().__init__(input_size, hidden_size, output_size)

    def forward(self, inputs: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        return self._encode(inputs, m_lens)


def canonical_dataset(dataset: str) -> str:
    """``'t2m'`` (HumanML3D) or ``'kit'`` (KIT-ML) from a dataset name or alias."""
    key = _ALIASES.get(str(dataset).lower())
    if key is None:
        raise MogenBenchError(
            f"no T2M evaluator for dataset {dataset!r}", field="dataset", fix="use 't2m' (HumanML3D) or 'kit'"
        )
    return key


def _as_like(value: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value).to(like.device)


def renormalise(features: Any, dataset_mean: Any, dataset_std: Any, eval_mean: Any, eval_std: Any) -> Any:
    """Move model-normalised features into the evaluator's normalisation (eval_protocol.md §1.4).

    ``(features * dataset_std + dataset_mean - eval_mean) / eval_std``, computed in float64 and returned
    in the input's type and dtype (numpy array or torch tensor, any leading shape, last dim = features).
    """
    is_tensor = torch.is_tensor(features)
    x = features.to(torch.float64) if is_tensor else np.asarray(features, dtype=np.float64)
    stats = []
    named = {
        "dataset_mean": dataset_mean,
        "dataset_std": dataset_std,
        "eval_mean": eval_mean,
        "eval_std": eval_std,
    }
    for name, value in named.items():
        s = _as_like(value, x).to(torch.float64) if is_tensor else np.asarray(value, dtype=np.float64)
        if tuple(s.shape) != (x.shape[-1],):
            raise MogenBenchError(
                f"{name} has shape {tuple(s.shape)}, the features have {x.shape[-1]} dims", field=name
            )
        stats.append(s)
    mean, std, emean, estd = stats
    out = (x * std + mean - emean) / estd
    if is_tensor:
        return out.to(features.dtype if features.is_floating_point() else torch.float32)
    dtype = np.asarray(features).dtype
    return out.astype(dtype if np.issubdtype(dtype, np.floating) else np.float32)


def _load_stat(meta_dir: Path, names: Sequence[str], dim: int) -> tuple[np.ndarray, Path]:
    for name in names:
        path = meta_dir / name
        if path.is_file():
            break
    else:
        raise MogenBenchError(
            f"evaluator statistics not found (looked for {', '.join(names)})",
            file=str(meta_dir),
            fix="pass meta_dir= the evaluator's meta folder (checkpoints/t2m/Comp_v6_KLD01/meta) "
            "or a folder with MDM's t2m_mean.npy / t2m_std.npy",
        )
    try:
        value = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise MogenBenchError(f"not a plain numpy array file: {exc}", file=str(path)) from exc
    if value.shape != (dim,) or not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
        raise MogenBenchError(
            f"expected {dim} finite floats, got {value.dtype} {value.shape}",
            file=str(path),
            fix="263 dims for HumanML3D (dataset='t2m'), 251 for KIT-ML (dataset='kit')",
        )
    return value, path


def load_evaluator_stats(meta_dir: str | Path, dataset: str = "t2m") -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's ``(mean, std)``: ``mean.npy``/``std.npy``, else MDM's ``<dataset>_{mean,std}.npy``.

    Loaded bit-exactly (``allow_pickle=False``); never recompute them (eval_protocol.md §1.4).
    """
    dataset = canonical_dataset(dataset)
    meta_dir = Path(meta_dir)
    dim = DIMS[dataset].dim_pose
    mean, _ = _load_stat(meta_dir, ("mean.npy", f"{dataset}_mean.npy"), dim)
    std, std_path = _load_stat(meta_dir, ("std.npy", f"{dataset}_std.npy"), dim)
    if (std <= 0).any():
        raise MogenBenchError("the std has non-positive entries", file=str(std_path))
    return mean, std


def find_checkpoint(checkpoint: str | Path, dataset: str) -> Path:
    """``finest.tar`` from a file path or from any folder of the official ``checkpoints/`` tree."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        return checkpoint
    candidates = [
        checkpoint / "finest.tar",
        checkpoint / "model" / "finest.tar",
        checkpoint / "text_mot_match" / "model" / "finest.tar",
        checkpoint / dataset / "text_mot_match" / "model" / "finest.tar",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise MogenBenchError(
        "the T2M evaluator checkpoint finest.tar was not found",
        file=str(checkpoint),
        fix=f"pass the path of checkpoints/{dataset}/text_mot_match/model/finest.tar "
        "(from the official evaluator download, t2m.zip / kit.zip)",
    )


def find_meta_dir(checkpoint: Path, dataset: str) -> Path | None:
    """The official meta folder beside a checkpoint in the ``checkpoints/<dataset>/...`` tree, if any."""
    for base in list(checkpoint.parents)[:4]:
        roots = [base] if base.name == dataset else [base / dataset, base]
        for root in roots:
            for run in _META_DIRS[dataset]:
                if (root / run / "meta" / "mean.npy").is_file():
                    return root / run / "meta"
        if (base / "meta" / "mean.npy").is_file():
            return base / "meta"
    return None


def state_dict_problems(module: nn.Module, state: Any, name: str) -> list[str]:
    """What keeps ``state`` from loading into ``module`` strictly: missing, unexpected, wrong shapes."""
    if not isinstance(state, Mapping):
        return [f"{name}: expected a state dict, got {type(state).__name__}"]
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    given = {k: (tuple(v.shape) if torch.is_tensor(v) else None) for k, v in state.items()}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k} {list(given[k]) if given[k] is not None else type(state[k]).__name__} (expected {list(s)})"
        for k, s in expected.items()
        if k in given and given[k] != s
    ]
    problems = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", wrong),
    ):
        if items:
            more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
            problems.append(f"{name}: {len(items)} {label}: {', '.join(items[:_SHOW])}{more}")
    return problems


class T2MEvaluator(nn.Module):
    """Guo et al.'s text and motion encoders plus the evaluator normalisation statistics, frozen."""

    #: The three state dicts of ``finest.tar``, by checkpoint key.
    CHECKPOINT_KEYS = ("text_encoder", "movement_encoder", "motion_encoder")

    def __init__(self, dataset: str = "t2m", eval_mean: Any = None, eval_std: Any = None) -> None:
        super().__init__()
        self.dataset = canonical_dataset(dataset)
        dims = self.dims = DIMS[self.dataset]
        self.text_encoder = TextEncoderBiGRUCo(
            dims.dim_word, dims.dim_pos_ohot, dims.dim_text_hidden, dims.dim_coemb_hidden
        )
        self.movement_encoder = MovementConvEncoder(
            dims.dim_pose - 4, dims.dim_movement_enc_hidden, dims.dim_movement_latent
        )
        self.motion_encoder = MotionEncoderBiGRUCo(
            dims.dim_movement_latent, dims.dim_motion_hidden, dims.dim_coemb_hidden
        )
        # float64 buffers keep the published numbers exact (MDM ships float64) for normalising and hashing.
        self.register_buffer("eval_mean", torch.zeros(dims.dim_pose, dtype=torch.float64), persistent=False)
        self.register_buffer("eval_std", torch.ones(dims.dim_pose, dtype=torch.float64), persistent=False)
        self.set_statistics(
            np.zeros(dims.dim_pose) if eval_mean is None else eval_mean,
            np.ones(dims.dim_pose) if eval_std is None else eval_std,
        )
        self.checkpoint_path: str | None = None
        self.checkpoint_info: dict[str, Any] = {}
        self.train(False)

    def set_statistics(self, eval_mean: Any, eval_std: Any) -> None:
        """Set the evaluator normalisation statistics (``meta/mean.npy``, ``meta/std.npy``)."""
        dim = self.dims.dim_pose
        mean, std = np.asarray(eval_mean, dtype=np.float64), np.asarray(eval_std, dtype=np.float64)
        if mean.shape != (dim,) or std.shape != (dim,):
            raise MogenBenchError(
                f"evaluator statistics must have {dim} dims, got {mean.shape} and {std.shape}",
                field="eval_mean",
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise MogenBenchError("evaluator statistics must be finite with a positive std", field="eval_std")
        self.eval_mean.copy_(torch.from_numpy(mean))
        self.eval_std.copy_(torch.from_numpy(std))

    def train(self, mode: bool = True) -> T2MEvaluator:
        """Always eval mode: the evaluator is frozen, and dropout would change every embedding."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.eval_mean.device

    # -- loading ---------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint_dir: str | Path,
        dataset: str = "t2m",
        meta_dir: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> T2MEvaluator:
        """Load ``finest.tar`` (a path, or a folder of the official tree) and the evaluator statistics.

        The checkpoint is read with ``torch.load(weights_only=True)``: it holds only tensors, dicts, lists,
        numbers and the Adam optimiser states, all of which the safe loader admits. ``meta_dir`` holds
        ``mean.npy``/``std.npy`` (or ``t2m_mean.npy``/``t2m_std.npy``); when omitted it is looked up in
        the official tree beside the checkpoint (``checkpoints/t2m/Comp_v6_KLD01/meta``).
        """
        dataset = canonical_dataset(dataset)
        path = find_checkpoint(checkpoint_dir, dataset)
        evaluator = cls(dataset)
        # The checkpoint first: a wrong file is the likelier mistake, and its message says more.
        evaluator.load_checkpoint(read_checkpoint(path), source=str(path))
        evaluator.checkpoint_path = str(path)
        if meta_dir is None:
            meta_dir = find_meta_dir(path, dataset)
            if meta_dir is None:
                raise MogenBenchError(
                    "the evaluator statistics (meta/mean.npy, meta/std.npy) are not beside the checkpoint",
                    file=str(path),
                    fix="pass meta_dir= the folder checkpoints/t2m/Comp_v6_KLD01/meta (KIT: "
                    "checkpoints/kit/Comp_v6_KLD005/meta)",
                )
        evaluator.set_statistics(*load_evaluator_stats(meta_dir, dataset))
        return evaluator.to(device)

    def load_checkpoint(self, checkpoint: Any, source: str = "<memory>") -> None:
        """Load the three state dicts of an official checkpoint strictly; report all mismatches at once."""
        if not isinstance(checkpoint, Mapping):
            raise MogenBenchError(
                f"expected a dict with keys {list(self.CHECKPOINT_KEYS)}, got {type(checkpoint).__name__}",
                file=source,
            )
        absent = [k for k in self.CHECKPOINT_KEYS if k not in checkpoint]
        if absent:
            raise MogenBenchError(
                f"not a T2M evaluator checkpoint: missing {absent}; has {sorted(map(str, checkpoint))[:10]}",
                file=source,
                fix="use checkpoints/<t2m|kit>/text_mot_match/model/finest.tar from the official evaluator",
            )
        problems = []
        for key in self.CHECKPOINT_KEYS:
            problems += state_dict_problems(getattr(self, key), checkpoint[key], key)
        if problems:
            hint = "use checkpoints/<t2m|kit>/text_mot_match/model/finest.tar, unmodified"
            movement = checkpoint["movement_encoder"]
            first_conv = movement.get("main.0.weight") if isinstance(movement, Mapping) else None
            if torch.is_tensor(first_conv) and first_conv.ndim == 3:
                other = {d.dim_pose - 4: name for name, d in DIMS.items()}.get(int(first_conv.shape[1]))
                if other and other != self.dataset:
                    hint = f"this is a {other!r} evaluator: pass dataset={other!r}"
            raise MogenBenchError(
                "the checkpoint does not match the T2M evaluator: " + "; ".join(problems),
                file=source,
                field=", ".join(k for k in self.CHECKPOINT_KEYS if any(p.startswith(k) for p in problems)),
                fix=hint,
            )
        for key in self.CHECKPOINT_KEYS:
            getattr(self, key).load_state_dict(checkpoint[key], strict=True)
        self.checkpoint_info = {k: checkpoint[k] for k in ("epoch", "iter") if k in checkpoint}

    # -- identity ----------------------------------------------------------------------------------------

    @property
    def hash(self) -> str:
        """sha256 over every state-dict tensor (name, dtype, shape, bytes) and the statistics; for results."""
        digest = hashlib.sha256(f"t2m-evaluator/{self.dataset}".encode())
        for key in self.CHECKPOINT_KEYS:
            for name, tensor in sorted(getattr(self, key).state_dict().items()):
                array = tensor.detach().to("cpu").contiguous().numpy()
                array = array.astype(array.dtype.newbyteorder("<"), copy=False)
                digest.update(f"{key}.{name}|{array.dtype.str}|{array.shape}".encode())
                digest.update(array.tobytes())
        for name in ("eval_mean", "eval_std"):
            array = getattr(self, name).to("cpu").numpy().astype("<f8")
            digest.update(f"{name}|{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    # -- encoding --------------------------------------------------------------------------------------

    def _float(self, value: Any) -> torch.Tensor:
        tensor = value if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
        return tensor.to(self.device, torch.float32)

    @torch.no_grad()
    def encode_text(self, word_embs: Any, pos_onehot: Any, sent_lens: Any) -> torch.Tensor:
        """Text embeddings ``(B, 512)`` in input order, from ``(B, L, 300)``, ``(B, L, 15)`` and ``(B,)``.

        ``sent_lens`` are the true token counts with sos/eos (``WordVectorizer.encode``), in any order.
        """
        word_embs, pos_onehot = self._float(word_embs), self._float(pos_onehot)
        dims = self.dims
        if word_embs.ndim != 3 or word_embs.shape[-1] != dims.dim_word:
            raise MogenBenchError(
                f"word_embs must be (B, L, {dims.dim_word}), got {tuple(word_embs.shape)}", field="word_embs"
            )
        if pos_onehot.shape != (*word_embs.shape[:2], dims.dim_pos_ohot):
            raise MogenBenchError(
                f"pos_onehot must be {(*word_embs.shape[:2], dims.dim_pos_ohot)}, "
                f"not {tuple(pos_onehot.shape)}",
                field="pos_onehot",
            )
        lengths = _cpu_lengths(sent_lens, word_embs.shape[0], word_embs.shape[1], "sent_lens")
        if word_embs.shape[0] == 0:
            return word_embs.new_zeros(0, dims.dim_coemb_hidden)
        return self.text_encoder(word_embs, pos_onehot, lengths)

    @torch.no_grad()
    def encode_movements(self, features: Any) -> torch.Tensor:
        """Movement tokens ``(B, T/4, 512)`` of evaluator-normalised features ``(B, T, dim_pose)``."""
        return self.movement_encoder(self._features(features)[..., :-4])

    def _features(self, features: Any) -> torch.Tensor:
        features = self._float(features)
        if features.ndim != 3 or features.shape[-1] != self.dims.dim_pose:
            raise MogenBenchError(
                f"features must be (B, T, {self.dims.dim_pose}) for the {self.dataset!r} evaluator, "
                f"got {tuple(features.shape)}",
                field="features",
            )
        return features

    @torch.no_grad()
    def encode_motion(self, features: Any, lengths: Any) -> torch.Tensor:
        """Motion embeddings ``(B, 512)`` in input order.

        ``features`` ``(B, T, dim_pose)`` are normalised with the EVALUATOR statistics and zero-padded past
        each length (the official GT loader pads with zeros in normalised space); ``lengths`` are frames,
        in any order; the motion GRU runs over ``lengths // 4`` movement tokens, as officially.
        """
        features = self._features(features)
        batch, frames_max = features.shape[:2]
        frames = _cpu_lengths(lengths, batch, frames_max, "lengths")
        if batch == 0:
            return features.new_zeros(0, self.dims.dim_coemb_hidden)
        if int(frames.min()) < UNIT_LENGTH:
            raise MogenBenchError(
                f"lengths must be at least {UNIT_LENGTH} frames, got {int(frames.min())}", field="lengths"
            )
        # The last 4 dims are foot contacts, which the evaluator never sees.
        movements = self.movement_encoder(features[..., :-4])
        return self.motion_encoder(movements, frames // UNIT_LENGTH)

    def normalise(self, features: Any) -> torch.Tensor:
        """Raw (un-normalised) features -> evaluator-normalised float32, on the evaluator's device."""
        features = features if torch.is_tensor(features) else torch.as_tensor(np.asarray(features))
        x = features.to(self.device, torch.float64)
        return ((x - self.eval_mean) / self.eval_std).to(torch.float32)

    def renormalise(self, features: Any, dataset_mean: Any, dataset_std: Any) -> Any:
        """Model-normalised features -> evaluator-normalised (``renormalise`` with this evaluator's stats)."""
        mean, std = self.eval_mean.cpu().numpy(), self.eval_std.cpu().numpy()
        return renormalise(features, dataset_mean, dataset_std, mean, std)


def _numpy_scalar_globals() -> list[tuple[Any, str]]:
    """The globals a pickled numpy scalar (an ``epoch`` saved as ``np.int64``) needs, in both spellings.

    ``multiarray.scalar(dtype, bytes)`` rebuilds a scalar from raw bytes and calls nothing else; numpy 1
    writes it as ``numpy.core.multiarray.scalar``, numpy 2 as ``numpy._core.multiarray.scalar``.
    """
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import scalar
    # The concrete dtype classes (numpy.dtypes.Int64DType, ...) receive the pickled dtype's state.
    dtype_classes = [type(np.dtype(code)) for code in "?bhilqBHILQefd"]
    return [
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        (np.dtype, "numpy.dtype"),
        *dict.fromkeys(dtype_classes),
    ]


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)``, with a project error on refusal.

    Besides tensors and plain containers, only numpy scalars are admitted (``_numpy_scalar_globals``).
    """
    path = Path(path)
    if not path.is_file():
        raise MogenBenchError("file not found", file=str(path), fix="check the checkpoint path")
    try:
        return load_weights_only(path, "cpu", admitted_globals=_numpy_scalar_globals())
    except PickledObjects as exc:
        raise MogenBenchError(
            "the checkpoint holds objects other than tensors and plain data, so it is not loaded "
            f"(the weights-only reader refused the class {exc.name})",
            file=str(path),
            fix="use the official finest.tar, or re-save the state dicts only",
        ) from None
    except UnreadableFile as exc:
        raise MogenBenchError(
            f"not a readable torch checkpoint ({exc.reason})",
            file=str(path),
            fix="download the checkpoint again",
        ) from None
