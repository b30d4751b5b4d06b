"""An on-disk cache of a frozen text encoder's features, one file per unique text: no text is encoded twice.

FineMoGen precomputes its CLIP token features per caption (``clip_feats/<id>.npy``); this cache does the
same on demand. Layout::

    <root>/<namespace>/encoder.json              what produced the features (model, context, weights digest)
    <root>/<namespace>/<k[:2]>/<k>.npz           one text: tokens (L, C) float32, mask (L,), pooled (C,), text

``namespace`` names the encoder *and* its weights (e.g. ``clip-<16 hex of a sha256 over its config and
weights>``), so other weights or another context length never read stale features; ``k`` is the sha256 of
the text's UTF-8 bytes, and the file stores the text too, so a file is only used for exactly its text.

Why one small file per text rather than shards: texts arrive in any order over a run, several processes
(DDP ranks, parallel runs) may encode the same text at once, and nothing is ever rewritten. Each file is
written to a temporary name and renamed into place, so concurrent writers of one text simply replace
identical content and a reader never sees half a file. Writes are not fsynced (one fsync per caption
would dominate the cost); a file damaged by a power cut is unreadable or fails the checks below and is
treated as a miss and rewritten. The cost is one file per caption: HumanML3D's ~45k captions at 77 x 512
float32 are ~7 GB, as FineMoGen's own feature folder. A small in-memory LRU sits in front of the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from mogen_bench.text.features import TextFeatures

#: Where ``cache_dir="auto"`` keeps text features unless ``$MOGEN_BENCH_CACHE`` says otherwise.
DEFAULT_TEXT_CACHE = Path.home() / ".cache" / "mogen-bench" / "text-features"


def default_cache_dir() -> Path:
    """``$MOGEN_BENCH_CACHE/text-features`` if set, else ``~/.cache/mogen-bench/text-features``."""
    root = os.environ.get("MOGEN_BENCH_CACHE")
    return Path(root) / "text-features" if root else DEFAULT_TEXT_CACHE


def resolve_cache_dir(setting: str | os.PathLike | None) -> Path | None:
    """The folder a ``cache_dir`` option names (``None`` or ``""``: none; ``"auto"``: the default)."""
    if setting is None or str(setting) == "":
        return None
    if str(setting) == "auto":
        return default_cache_dir()
    return Path(setting).expanduser()


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedText(NamedTuple):
    """The features of one text, on the CPU: ``tokens (L, C)``, ``mask (L,)``, ``pooled (C,)``."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


class TextFeatureCache:
    """Features per text for one encoder: memory LRU, then ``<root>/<namespace>``, then ``compute``.

    ``root=None`` keeps only the in-memory LRU; ``memory_items=0`` turns the LRU off. ``description`` is
    written once to ``encoder.json`` so a person can tell the folders apart.
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        namespace: str,
        *,
        memory_items: int = 512,
        description: dict | None = None,
    ) -> None:
        if memory_items < 0:
            raise ValueError(f"memory_items must be >= 0, got {memory_items}")
        self.folder = None if root is None else Path(root) / namespace
        self.namespace = namespace
        self.memory_items = memory_items
        self.description = description or {}
        self._memory: OrderedDict[str, CachedText] = OrderedDict()
        self._described = False
        #: Texts served from memory, from disk, and encoded (for logs and tests).
        self.memory_hits = 0
        self.disk_hits = 0
        self.computed = 0

    # ------------------------------------------------------------------ files
    def path(self, text: str) -> Path:
        if self.folder is None:
            raise ValueError("this cache has no folder")
        key = text_key(text)
        return self.folder / key[:2] / f"{key}.npz"

    def _read(self, text: str) -> CachedText | None:
        path = self.path(text)
        try:
            with np.load(path, allow_pickle=False) as data:
                tokens, mask, pooled = data["tokens"], data["mask"], data["pooled"]
                stored = str(data["text"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # damaged or foreign file: a miss, rewritten below
        if (
            stored != text
            or tokens.dtype != np.float32
            or tokens.ndim != 2
            or mask.shape != tokens.shape[:1]
            or mask.dtype != np.bool_
            or pooled.shape != tokens.shape[1:]
            or pooled.dtype != np.float32
        ):
            return None
        return CachedText(torch.from_numpy(tokens), torch.from_numpy(mask), torch.from_numpy(pooled))

    def _write(self, text: str, entry: CachedText) -> None:
        path = self.path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temporary, "wb") as handle:
                np.savez(
                    handle,
                    tokens=entry.tokens.numpy(),
                    mask=entry.mask.numpy(),
                    pooled=entry.pooled.numpy(),
                    text=np.array(text),
                )
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _describe(self) -> None:
        if self._described or self.folder is None:
            return
        info = self.folder / "encoder.json"
        if not info.exists():
            info.parent.mkdir(parents=True, exist_ok=True)
            temporary = info.with_name(f".encoder.json.{uuid.uuid4().hex[:8]}.tmp")
            try:
                temporary.write_text(json.dumps(self.description, indent=2, sort_keys=True) + "\n")
                os.replace(temporary, info)
            finally:
                temporary.unlink(missing_ok=True)
        self._described = True

    # ------------------------------------------------------------------ memory
    def _remember(self, key: str, entry: CachedText) -> None:
        if self.memory_items == 0:
            return
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    # ------------------------------------------------------------------ many texts
    def load_many(self, texts: Sequence[str]) -> list[CachedText | None]:
        """The cached features of each text (``None`` where there are none), from memory or disk."""
        out: list[CachedText | None] = []
        for text in texts:
            key = text_key(text)
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
                self.memory_hits += 1
            elif self.folder is not None:
                entry = self._read(text)
                if entry is not None:
                    self.disk_hits += 1
                    self._remember(key, entry)
            out.append(entry)
        return out

    def store_many(self, texts: Sequence[str], features: TextFeatures) -> None:
        """Remember row ``i`` of ``features`` as the features of ``texts[i]`` (in memory and on disk)."""
        features = features.to("cpu")
        if self.folder is not None:
            self._describe()
        for i, text in enumerate(texts):
            # clone: a row view would keep the whole batch alive in the LRU.
            entry = CachedText(
                features.tokens[i].clone(), features.mask[i].clone(), features.pooled[i].clone()
            )
            if self.folder is not None:
                self._write(text, entry)
            self._remember(text_key(text), entry)

    def get_or_compute(
        self,
        texts: Sequence[str],
        compute: Callable[[list[str]], TextFeatures],
        *,
        batch_size: int = 256,
    ) -> TextFeatures:
        """Features of ``texts`` (CPU); ``compute`` runs once per uncached text, ``batch_size`` at a time."""
        if not texts:
            raise ValueError("no texts to encode")
        unique = list(dict.fromkeys(texts))
        found = dict(zip(unique, self.load_many(unique), strict=True))
        missing = [text for text in unique if found[text] is None]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            features = compute(chunk).to("cpu")
            self.computed += len(chunk)
            self.store_many(chunk, features)
            for i, text in enumerate(chunk):
                found[text] = CachedText(features.tokens[i], features.mask[i], features.pooled[i])
        entries = [found[text] for text in texts]
        return TextFeatures(
            torch.stack([e.tokens for e in entries]),
            torch.stack([e.mask for e in entries]),
            torch.stack([e.pooled for e in entries]),
        )
