"""HumanML3D and KIT-ML releases -> prepared dataset, item for item as the official loader sees them.

Input layout (the official release; KIT-ML has 251 dims instead of 263)::

    <root>/new_joint_vecs/<id>.npy   (T, 263) float32 features
    <root>/texts/<id>.txt            one caption per line: caption#word/POS ...#start#end
    <root>/Mean.npy, <root>/Std.npy  (263,) dataset statistics
    <root>/train.txt val.txt test.txt   clip ids, one per line (all.txt, train_val.txt are ignored)

Items follow ``Text2MotionDatasetV2.__init__`` of ``text-to-motion`` (``data/dataset.py``), the loader the
evaluator, MDM and their successors share:

* A clip must have ``40 <= T < 200`` frames (KIT-ML ``24 <= T < 200``). A clip outside the bounds is
  dropped *with* its timed captions, as the official loop ``continue``\\s before reading the caption file.
* Whole-clip captions (``start = end = 0``, NaN counting as 0) are attached to the clip; a clip with none
  is not an item itself (its timed captions still are).
* Every timed caption becomes an item of its own, ``motion[int(start * 20):int(end * 20)]`` (20 for
  KIT-ML too) with exactly that one caption, under the same length filter. The official loader does
  *not* group captions with identical times: each gets its own item (there under a random name
  ``<A-W>_<id>``). Here the name is deterministic, ``<id>#<first>-<end>`` in frames of the clip, and
  ``#2``, ``#3`` ... is appended for the second, third ... caption of the same window.

Where this source differs from the official loader, it is to report instead of silently dropping: a
missing or unreadable file, features of the wrong width, NaN or inf frames (the official loader keeps
007975 / M007975, whose NaN features then poison FID) and malformed caption files are ``Skipped`` items
with their reason, and so is every item the length filter drops. A malformed caption file skips the
whole clip (the official loader's bare ``except`` drops the clip and keeps the windows read before the
bad line). Blank lines in caption files are ignored.

Features are stored bit for bit as shipped; the normalisation statistics are the shipped ``Mean.npy`` and
``Std.npy`` (not the evaluator's, see eval_protocol.md section 1.4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotation.errors import AnnotationError
from annotation.files import read_user_file
from annotation.humanml3d_text import LOADER_FPS, CaptionLine, WindowNames, parse_caption_line
from mogen_bench.data.schema import Caption, MotionRecord, Skipped
from mogen_bench.data.source import expected_tree_error
from mogen_bench.data.splits import SPLITS
from mogen_bench.errors import MogenBenchError
from mogen_bench.motion.representations import get_representation

FEATURES_DIR = "new_joint_vecs"
TEXTS_DIR = "texts"
STATISTICS = ("Mean.npy", "Std.npy")
SPLIT_RULE = "official split files"


@dataclass(frozen=True)
class Variant:
    """What differs between HumanML3D and KIT-ML: the features and the loader's length filter."""

    name: str
    representation: str
    #: Frames a clip or caption window needs: ``min_frames <= T < max_frames`` (the official bounds).
    min_frames: int
    max_frames: int


VARIANTS = {
    "humanml3d": Variant("humanml3d", "humanml3d-263", 40, 200),
    "kit-ml": Variant("kit-ml", "kit-251", 24, 200),
}


def expected_tree(dims: int) -> str:
    return f"""  <root>/
    {FEATURES_DIR}/<id>.npy        (T, {dims}) float32 features
    {TEXTS_DIR}/<id>.txt                 caption#word/POS ...#start#end, one caption per line
    Mean.npy, Std.npy               ({dims},) dataset statistics
    train.txt, val.txt, test.txt    clip ids, one per line"""


def _valid_clip_id(clip_id: str) -> bool:
    # Ids name files under the root and prefix window ids, so no path parts and no '#'.
    return clip_id not in (".", "..") and not any(c in clip_id for c in "/\\#\0")


class HumanML3DSource:
    """A HumanML3D (``dataset="humanml3d"``) or KIT-ML (``"kit-ml"``) release folder as a ``Source``."""

    def __init__(self, root: str | Path, dataset: str = "humanml3d"):
        if dataset not in VARIANTS:
            raise MogenBenchError(
                f"unknown HumanML3D-style dataset {dataset!r}",
                field="dataset",
                fix=f"use one of {', '.join(VARIANTS)}",
            )
        self.variant = VARIANTS[dataset]
        self.name = self.variant.name
        self.representation = self.variant.representation
        spec = get_representation(self.representation)
        self.dims = spec.dims
        self.fps = spec.fps
        self.root = Path(root).absolute()

    # ------------------------------------------------------------------ the Source protocol
    def check(self) -> None:
        tree = expected_tree(self.dims)
        if not self.root.is_dir():
            raise expected_tree_error(self.name, self.root, "the folder itself (no such folder)", tree)
        for folder in (FEATURES_DIR, TEXTS_DIR):
            if not (self.root / folder).is_dir():
                fix = None
                if folder == TEXTS_DIR and (self.root / "texts.zip").is_file():
                    fix = f"unzip texts.zip inside {self.root} so that texts/<id>.txt exist"
                raise expected_tree_error(self.name, self.root, f"the folder {folder}/", tree, fix)
        for file in (*STATISTICS, *(f"{split}.txt" for split in SPLITS)):
            if not (self.root / file).is_file():
                raise expected_tree_error(self.name, self.root, f"the file {file}", tree)
        self.statistics()  # a broken Mean/Std fails now, not after a pass over every clip

    def input_files(self) -> list[Path]:
        files = [self.root / f"{split}.txt" for split in SPLITS] + [self.root / f for f in STATISTICS]
        used: set[Path] = set()
        for _, clip_id in self._listed_ids():
            if _valid_clip_id(clip_id):
                for path in (self._features_path(clip_id), self._captions_path(clip_id)):
                    if path not in used and path.is_file():
                        used.add(path)
                        files.append(path)
        return [f for f in files if f.is_file()]

    def options(self) -> dict:
        return {
            "filters": {
                "min_frames": self.variant.min_frames,
                "max_frames_exclusive": self.variant.max_frames,
                "applies_to": "clips and caption windows",
            },
            "representation": self.representation,
        }

    def split_rule(self) -> str:
        return SPLIT_RULE

    def expected_items(self) -> int | None:
        # Timed captions add items and the filters remove some: unknown without reading everything.
        return None

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """The shipped ``Mean.npy`` / ``Std.npy`` as stored; a ``MogenBenchError`` naming a bad file."""
        mean = self._load_statistic(STATISTICS[0], positive=False)
        std = self._load_statistic(STATISTICS[1], positive=True)
        return mean, std

    def items(self) -> Iterator[MotionRecord | Skipped]:
        first_split: dict[str, str] = {}
        for split, clip_id in self._listed_ids():
            split_file = str(self.root / f"{split}.txt")
            if not _valid_clip_id(clip_id):
                yield Skipped(clip_id, "not a clip id (contains '/', '\\' or '#')", split_file)
            elif clip_id in first_split:
                yield Skipped(
                    clip_id,
                    f"listed in more than one split file; kept in the first ({first_split[clip_id]}.txt)",
                    split_file,
                )
            else:
                first_split[clip_id] = split
                yield from self._clip_items(clip_id, split)

    # ------------------------------------------------------------------ files
    def _features_path(self, clip_id: str) -> Path:
        return self.root / FEATURES_DIR / f"{clip_id}.npy"

    def _captions_path(self, clip_id: str) -> Path:
        return self.root / TEXTS_DIR / f"{clip_id}.txt"

    def _listed_ids(self) -> Iterator[tuple[str, str]]:
        """``(split, id)`` for every non-blank line of train.txt, val.txt, test.txt, in file order."""
        for split in SPLITS:
            path = self.root / f"{split}.txt"
            try:
                text = read_user_file(path, "a split file").decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MogenBenchError(
                    f"not UTF-8 text (byte {exc.start})", file=str(path), fix="save the file as UTF-8"
                ) from None
            for line in text.removeprefix("\ufeff").splitlines():
                if line.strip():
                    yield split, line.strip()

    def _load_statistic(self, file: str, positive: bool) -> np.ndarray:
        path = self.root / file
        fix = f"restore {file} from the {self.name} release"
        try:
            value = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise MogenBenchError("no such file", file=str(path), fix=fix) from None
        except (OSError, ValueError, EOFError) as exc:
            raise MogenBenchError(f"not a readable .npy file ({exc})", file=str(path), fix=fix) from None
        if not isinstance(value, np.ndarray) or value.shape != (self.dims,) or value.dtype.kind != "f":
            what = (
                f"shape {value.shape}, dtype {value.dtype}" if isinstance(value, np.ndarray) else "an archive"
            )
            raise MogenBenchError(
                f"holds {what}; {self.name} statistics are ({self.dims},) floats",
                file=str(path),
                fix=f"{fix} (is this the {self.name} folder?)",
            )
        if not np.isfinite(value).all():
            raise MogenBenchError("contains NaN or inf", file=str(path), fix=fix)
        if positive and not (value > 0).all():
            raise MogenBenchError(
                f"has {int((value <= 0).sum())} entries <= 0; a std must be positive", file=str(path), fix=fix
            )
        return value

    def _load_features(self, clip_id: str) -> np.ndarray | Skipped:
        path = self._features_path(clip_id)
        try:
            # mmap: the header (shape, dtype) is checked before the data is read.
            value = np.load(path, allow_pickle=False, mmap_mode="r")
        except FileNotFoundError:
            return Skipped(clip_id, f"no feature file {FEATURES_DIR}/<id>.npy", str(path))
        except (OSError, ValueError, EOFError) as exc:
            return Skipped(clip_id, f"not a readable .npy file ({exc})", str(path))
        if not isinstance(value, np.ndarray):
            value.close()
            return Skipped(clip_id, "an .npz archive, not a .npy array", str(path))
        if value.ndim != 2 or value.shape[1] != self.dims or value.dtype.kind != "f":
            return Skipped(
                clip_id,
                f"features are {value.shape} {value.dtype}, expected (T, {self.dims}) float",
                str(path),
            )
        # A copy, so the mapping is released with ``value``; float32 (the release's dtype) stays bit-exact.
        features = np.array(value, dtype=np.float32)
        if not np.isfinite(features).all():
            return Skipped(clip_id, "NaN frames: the features contain NaN or inf", str(path))
        return features

    def _read_captions(self, clip_id: str) -> list[CaptionLine] | Skipped:
        path = self._captions_path(clip_id)
        try:
            text = read_user_file(path, "a caption .txt file").decode("utf-8")
        except MogenBenchError as exc:
            reason = f"no caption file {TEXTS_DIR}/<id>.txt" if exc.message == "no such file" else exc.message
            return Skipped(clip_id, reason, str(path))
        except UnicodeDecodeError as exc:
            return Skipped(clip_id, f"caption file is not UTF-8 text (byte {exc.start})", str(path))
        lines: list[CaptionLine] = []
        problems = []
        for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                # The official loader strips each line before splitting it at '#'.
                lines.append(parse_caption_line(raw.strip(), path=str(path), line_number=number))
            except AnnotationError as exc:
                problems.extend(exc.problems)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return Skipped(clip_id, f"invalid caption file: {problems[0].message}{more}", str(path))
        if not lines:
            return Skipped(clip_id, "the caption file has no captions", str(path))
        return lines

    # ------------------------------------------------------------------ one clip
    def _length_ok(self, frames: int) -> bool:
        return self.variant.min_frames <= frames < self.variant.max_frames

    def _length_reason(self, frames: int, what: str) -> str:
        lo, hi = self.variant.min_frames, self.variant.max_frames
        side = f"shorter than {lo}" if frames < lo else f"{hi} or more"
        return f"{what} {side} frames (official filter {lo} <= T < {hi})"

    def _clip_items(self, clip_id: str, split: str) -> Iterator[MotionRecord | Skipped]:
        features = self._load_features(clip_id)
        if isinstance(features, Skipped):
            yield features
            return
        captions = self._read_captions(clip_id)
        if isinstance(captions, Skipped):
            yield captions
            return
        whole = [c for c in captions if c.whole_clip]
        timed = [c for c in captions if not c.whole_clip]
        frames = features.shape[0]
        features_file, captions_file = str(self._features_path(clip_id)), str(self._captions_path(clip_id))
        if not self._length_ok(frames):
            reason = self._length_reason(frames, "clip")
            if timed:
                reason += "; its timed captions are dropped with it, as in the official loader"
            yield Skipped(clip_id, reason, features_file)
            return
        mirrored = clip_id.startswith("M")
        if whole:
            yield MotionRecord(
                motion_id=clip_id,
                split=split,
                source_id=clip_id,
                features=features,
                fps=self.fps,
                mirrored=mirrored,
                stages=None,
                captions=[Caption(c.caption, c.tokens, 0.0, 0.0) for c in whole],
            )
        else:
            yield Skipped(
                clip_id,
                "no whole-clip caption (start = end = 0); only its timed captions are items",
                captions_file,
            )
        window_names = WindowNames(clip_id)
        for line in timed:
            start, end = line.window(LOADER_FPS)
            # The slice the official loader takes; ids name the frames it really covers.
            window = features[start:end]
            first = min(start, frames)
            motion_id = window_names(first, first + window.shape[0])
            if not self._length_ok(window.shape[0]):
                yield Skipped(
                    motion_id, self._length_reason(window.shape[0], "caption window"), captions_file
                )
                continue
            yield MotionRecord(
                motion_id=motion_id,
                split=split,
                source_id=clip_id,
                features=window,
                fps=self.fps,
                mirrored=mirrored,
                stages=None,
                captions=[Caption(line.caption, line.tokens, line.start_seconds, line.end_seconds)],
            )


class KitMLSource(HumanML3DSource):
    """The KIT-ML release folder: ``HumanML3DSource(root, "kit-ml")``."""

    def __init__(self, root: str | Path):
        super().__init__(root, "kit-ml")
