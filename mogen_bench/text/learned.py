"""A small word-level transformer text encoder, trained with the model: the offline default.

It needs no download, so MoGen-Synth training and the tests run anywhere. Texts are lowercased and split
into words (letters and digits, with inner apostrophes: "person's"; punctuation is dropped); each word
is looked up in the dataset vocabulary (``<unk>`` when absent); a ``<cls>`` token is put first, so even
an empty text has one real token, and at most ``max_words`` words follow it. Every batch is padded to
``max_tokens = max_words + 1`` positions, the padding masked out of the attention and zeroed in the
output. ``pooled`` is the mean over the real tokens (``<cls>`` included).

The vocabulary lives in the module's state dict (``_extra_state``: plain lists of strings and the config,
readable by ``torch.load(weights_only=True)``), so a checkpoint alone rebuilds the encoder: loading it
into an encoder built with another (even empty) vocabulary resizes the word embedding to match.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from mogen_bench.errors import MogenBenchError
from mogen_bench.text.features import TextEncoder, TextFeatures, check_texts

SPECIALS = ("<pad>", "<unk>", "<cls>")
PAD, UNK, CLS = 0, 1, 2
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_STATE_FORMAT = "mogen-bench/learned-text-encoder"
#: Config fields that decide parameter shapes (dropout does not).
_STRUCTURAL = ("dim", "layers", "heads", "ff_dim", "max_words")


def split_words(text: str) -> list[str]:
    """The lowercased words of ``text``: ``"A person's left-hand waves."`` -> a person's left hand waves."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """The dataset words (most frequent first, no special tokens); word ``i`` has id ``len(SPECIALS) + i``."""

    words: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = tuple(self.words)
        object.__setattr__(self, "words", words)
        clashes = sorted(set(words) & set(SPECIALS))
        if clashes:
            raise ValueError(f"the vocabulary words include special tokens {clashes}")
        index = {word: len(SPECIALS) + i for i, word in enumerate(words)}
        if len(index) != len(words):
            repeated = sorted(w for w, n in Counter(words).items() if n > 1)
            raise ValueError(f"the vocabulary repeats words: {repeated[:8]}")
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_words(cls, words: Iterable[str]) -> Vocabulary:
        """A vocabulary from a word list that may already start with the special tokens."""
        return cls(tuple(w for w in words if w not in SPECIALS))

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token in id order: the specials, then the words."""
        return SPECIALS + self.words

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.words)

    def ids(self, text: str, max_words: int) -> list[int]:
        """``[<cls>, word ids...]`` with at most ``max_words`` words (the rest is cut off)."""
        return [CLS] + [self._index.get(word, UNK) for word in split_words(text)[:max_words]]


def build_vocabulary(texts: Iterable[str], min_count: int = 1, max_size: int | None = None) -> Vocabulary:
    """The words of ``texts`` seen at least ``min_count`` times, most frequent first (ties alphabetical),
    at most ``max_size`` of them (special tokens not counted). Independent of the order of ``texts``."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = Counter(word for text in texts for word in split_words(text))
    ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if max_size is not None:
        ranked = ranked[: max(0, max_size)]
    return Vocabulary(tuple(ranked))


@dataclass
class LearnedTextConfig:
    dim: int = 256
    layers: int = 2
    heads: int = 4
    ff_dim: int = 512
    #: Longest text in words; longer texts are cut (the encoder sees max_words + 1 tokens with <cls>).
    max_words: int = 32
    dropout: float = 0.1


class LearnedTextEncoder(TextEncoder):
    """Word embedding + learned positions -> pre-norm transformer -> layer norm, trained with the model."""

    name = "learned"
    trainable = True

    def __init__(
        self, vocabulary: Vocabulary | Sequence[str] | None = None, config: LearnedTextConfig | None = None
    ) -> None:
        super().__init__()
        config = config or LearnedTextConfig()
        if config.dim % config.heads:
            raise ValueError(f"dim {config.dim} is not divisible by heads {config.heads}")
        if config.max_words < 1:
            raise ValueError(f"max_words must be >= 1, got {config.max_words}")
        if vocabulary is None:
            vocabulary = Vocabulary(())
        elif not isinstance(vocabulary, Vocabulary):
            vocabulary = Vocabulary.from_words(vocabulary)
        self.config = config
        self.vocabulary = vocabulary
        self.dim = config.dim
        self.max_tokens = config.max_words + 1

        self.word_embedding = self._embedding(len(vocabulary))
        self.position_embedding = nn.Parameter(torch.empty(self.max_tokens, config.dim))
        nn.init.normal_(self.position_embedding, std=0.02)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=config.dim,
            nhead=config.heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)

    def _embedding(self, size: int, like: torch.Tensor | None = None) -> nn.Embedding:
        kwargs = {} if like is None else {"device": like.device, "dtype": like.dtype}
        embedding = nn.Embedding(size, self.config.dim, padding_idx=PAD, **kwargs)
        nn.init.normal_(embedding.weight, std=0.02)
        with torch.no_grad():
            embedding.weight[PAD].zero_()
        return embedding

    def extra_repr(self) -> str:
        return f"vocabulary={len(self.vocabulary)} tokens, max_tokens={self.max_tokens}"

    # ------------------------------------------------------------------ encoding
    def token_ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``ids (B, max_tokens)`` (``<pad>`` after the text) and ``mask`` (True = real), on this device."""
        rows = [self.vocabulary.ids(text, self.config.max_words) for text in check_texts(texts)]
        padded = [row + [PAD] * (self.max_tokens - len(row)) for row in rows]
        ids = torch.tensor(padded, dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(row) for row in rows], device=ids.device)
        mask = torch.arange(self.max_tokens, device=ids.device)[None, :] < lengths[:, None]
        return ids, mask

    def encode_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        """Features of token ids; positions where ``mask`` is False are ignored whatever their ids."""
        x = self.word_embedding(ids) + self.position_embedding[: ids.shape[1]]
        x = self.dropout(x)
        x = self.encoder(x, src_key_padding_mask=~mask)
        keep = mask.unsqueeze(-1).to(x.dtype)
        tokens = self.norm(x) * keep
        pooled = tokens.sum(dim=1) / keep.sum(dim=1)
        return TextFeatures(tokens, mask, pooled)

    def forward(self, texts: Sequence[str]) -> TextFeatures:
        ids, mask = self.token_ids(texts)
        return self.encode_ids(ids, mask)

    # ------------------------------------------------------------------ the vocabulary in the state dict
    def get_extra_state(self) -> dict:
        return {
            "format": _STATE_FORMAT,
            "version": 1,
            "words": list(self.vocabulary.words),
            "config": asdict(self.config),
        }

    def set_extra_state(self, state: dict) -> None:
        vocabulary, _ = _parse_extra_state(state)
        if len(vocabulary) != self.word_embedding.num_embeddings:  # pragma: no cover - resized on load
            raise MogenBenchError(
                f"the vocabulary has {len(vocabulary)} tokens but the word embedding "
                f"{self.word_embedding.num_embeddings} rows",
                field="_extra_state",
            )
        self.vocabulary = vocabulary

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Runs before the children load: fit the word embedding to the checkpoint's vocabulary first, so a
        # model built without the vocabulary (generation from a run directory) loads the checkpoint as is.
        extra = state_dict.get(prefix + "_extra_state")
        if extra is not None:
            vocabulary, config = _parse_extra_state(extra)
            differ = [
                f"{name} {getattr(config, name)} (this encoder: {getattr(self.config, name)})"
                for name in _STRUCTURAL
                if getattr(config, name) != getattr(self.config, name)
            ]
            if differ:
                raise MogenBenchError(
                    "the checkpoint's learned text encoder has another shape: " + ", ".join(differ),
                    field="text encoder config",
                    fix="build the model with the config the checkpoint was trained with",
                )
            if len(vocabulary) != self.word_embedding.num_embeddings:
                self.word_embedding = self._embedding(len(vocabulary), like=self.word_embedding.weight)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def from_state_dict(cls, state_dict: dict, prefix: str = "") -> LearnedTextEncoder:
        """The encoder a state dict describes (config and vocabulary from its ``_extra_state``)."""
        extra = state_dict.get(prefix + "_extra_state")
        if extra is None:
            raise MogenBenchError(
                f"no learned text encoder under {prefix!r}: {prefix}_extra_state is missing",
                field="_extra_state",
                fix="pass the state dict of a LearnedTextEncoder, and the prefix it sits under in a model",
            )
        vocabulary, config = _parse_extra_state(extra)
        module = cls(vocabulary, config)
        module.load_state_dict({k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)})
        return module


def _parse_extra_state(state) -> tuple[Vocabulary, LearnedTextConfig]:
    names = {f.name for f in fields(LearnedTextConfig)}
    if (
        not isinstance(state, dict)
        or state.get("format") != _STATE_FORMAT
        or not isinstance(state.get("words"), list)
        or not all(isinstance(w, str) for w in state["words"])
        or not isinstance(state.get("config"), dict)
        or not set(state["config"]) <= names
    ):
        raise MogenBenchError(
            "the checkpoint's learned text encoder state is not readable (no vocabulary and config)",
            field="_extra_state",
            fix="use a checkpoint written by mogen-bench's LearnedTextEncoder",
        )
    try:
        vocabulary = Vocabulary.from_words(state["words"])
    except ValueError as error:
        raise MogenBenchError(
            f"the checkpoint's vocabulary is damaged: {error}", field="_extra_state"
        ) from error
    return vocabulary, LearnedTextConfig(**state["config"])
