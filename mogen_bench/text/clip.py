"""CLIP text features: the frozen open_clip ``ViT-B-32-quickgelu`` text tower, read as FineMoGen and MDM do.

FineMoGen (finemogen.md 2.4) uses CLIP's token-level features: token embedding + positional embedding, the
causal transformer, the final layer norm, at all 77 positions ``(B, 77, 512)``. MDM uses the pooled
``encode_text`` vector of a prompt truncated to 20 tokens (``context_length=22``: start + 20 + end). The
attention is causal, so running only the first ``context_length`` positions gives exactly the features
those positions have in the full 77-position pass: MDM's tokenise-to-22-then-zero-pad-to-77 trick and this
shorter pass agree, and the shorter one is cheaper.

``ViT-B-32-quickgelu``, not ``ViT-B-32``: the OpenAI weights were trained with QuickGELU, and loading them
from a file into the GELU config gives silently different features (ecosystem.md 2.5). Only the text tower
is built, through open_clip's own builder (the modules and state-dict names of ``open_clip.CLIP``), so a
full CLIP checkpoint loads with its ``visual.*`` and ``logit_*`` entries skipped. Files are read with
open_clip's ``load_state_dict`` (safetensors, or ``torch.load(weights_only=True)``), never unpickled; the
network is used only when the user asks for the download.

The tower is held outside the module's registries: it is not a child module, so a model holding the encoder
lists none of its ~63M frozen parameters in ``parameters()``, ``named_modules()`` or ``state_dict()`` (no
250 MB of CLIP in every checkpoint, the optimiser or the EMA). The encoder's ``state_dict`` is one small
``_extra_state``: the model name, context length and the weights' sha256, which loading checks against
the weights this encoder was built with. ``.to()``, ``.half()`` and the like still move the tower.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from annotation.files import atomic_write_bytes
from mogen_bench.errors import MogenBenchError
from mogen_bench.text.cache import TextFeatureCache, resolve_cache_dir
from mogen_bench.text.features import TextEncoder, TextFeatures, check_texts

MODEL_NAME = "ViT-B-32-quickgelu"
PRETRAINED_TAG = "openai"
#: CLIP's BPE vocabulary (49152 merges + bytes + start/end), which every config here must use.
VOCAB_SIZE = 49408

#: A tiny randomly initialised text tower of the same class, so tests run the real code path on a CPU.
TINY_CONFIG: dict = {
    "embed_dim": 32,
    "quick_gelu": True,
    "text_cfg": {"context_length": 77, "vocab_size": VOCAB_SIZE, "width": 32, "heads": 2, "layers": 2},
}

WEIGHTS_FIX = (
    "pass a local ViT-B-32-quickgelu weights file with --clip-weights PATH (open_clip_model.safetensors or "
    "open_clip_pytorch_model.bin of the Hugging Face repo timm/vit_base_patch32_clip_224.openai, or a "
    "FineMoGen checkpoint), or let open_clip download the OpenAI weights with --clip-download"
)
_STATE_FORMAT = "mogen-bench/clip-text-encoder"
#: Entries of a full CLIP checkpoint that the text tower does not use.
_SKIPPED_PREFIXES = ("visual.", "logit_scale", "logit_bias")


@functools.cache
def _tokenizer():
    import open_clip

    return open_clip.get_tokenizer(MODEL_NAME)


class ClipTextEncoder(TextEncoder):
    """Frozen CLIP text tower: ``tokens (B, L, 512)`` after ``ln_final``, ``mask`` up to and including the
    end-of-text token, ``pooled`` = open_clip's ``encode_text`` (projected, not normalised).

    Weights come from ``weights`` (a local .safetensors / .bin / .pt file) or, only with ``download=True``,
    from open_clip's download of the ``openai`` tag (into ``download_dir``, default the Hugging Face cache).
    ``context_length`` truncates the prompts (77: FineMoGen; 22: MDM). ``cache_dir`` (a folder, or
    ``"auto"``) keeps the features of every text on disk (see ``mogen_bench.text.cache``); the last
    ``memory_cache_items`` texts are also kept in memory. Texts not cached are encoded ``batch_size`` at
    a time. ``model_config`` (an open_clip model config dict) and ``random_seed`` (random weights instead
    of a file) exist for tests; see ``tiny_random``.
    """

    name = "clip"
    trainable = False

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        download: bool = False,
        context_length: int = 77,
        cache_dir: str | os.PathLike | None = None,
        memory_cache_items: int = 512,
        batch_size: int = 256,
        download_dir: str | os.PathLike | None = None,
        model_config: dict | None = None,
        random_seed: int | None = None,
    ) -> None:
        super().__init__()
        if weights is not None and str(weights) == "":
            weights = None
        if random_seed is not None and (weights is not None or download):
            raise ValueError("random_seed makes random weights: it excludes weights and download")
        if weights is None and not download and random_seed is None:
            raise MogenBenchError(
                "the clip text encoder needs its weights, and neither a file nor the download was given",
                field="clip_weights",
                fix=WEIGHTS_FIX,
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        config = copy.deepcopy(model_config) if model_config is not None else _builtin_config()
        _check_config(config)
        longest = config["text_cfg"].get("context_length", 77)
        if not 2 <= context_length <= longest:
            raise MogenBenchError(
                f"context_length {context_length} is outside 2..{longest} (start token, text, end token)",
                field="clip_context",
                fix=f"use a value from 2 to {longest} (77 as FineMoGen, 22 as MDM)",
            )

        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise MogenBenchError(
                    "no such CLIP weights file", file=str(path), field="clip_weights", fix=WEIGHTS_FIX
                )
            self.weights_source = str(path)
        elif download:
            path = _download(download_dir)
            self.weights_source = f"open_clip:{MODEL_NAME}/{PRETRAINED_TAG}"
        else:
            path = None
            self.weights_source = f"random:{random_seed}"

        from open_clip.model import _build_text_tower

        with torch.random.fork_rng(devices=[]):
            if random_seed is not None:
                torch.manual_seed(random_seed)
            quick_gelu = config.get("quick_gelu", False)
            tower = _build_text_tower(config["embed_dim"], config["text_cfg"], quick_gelu)
        if path is not None:
            tower.load_state_dict(_read_text_weights(path, tower), strict=True)
        tower.requires_grad_(False)
        tower.eval()
        # Not nn.Module.__setattr__: that would register the tower as a child (and so in the state dict).
        object.__setattr__(self, "_tower", tower)

        self.model_name = MODEL_NAME if model_config is None else "custom"
        self.model_config = config
        self.context_length = context_length
        self.dim = config["embed_dim"]
        self.max_tokens = context_length
        self.batch_size = batch_size
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.memory_cache_items = memory_cache_items
        # Digest of the weights as loaded (float32, CPU): what a checkpoint's ``_extra_state`` records, the
        # same after ``.to(device)`` or ``.half()`` (the cache identity adds the dtype separately).
        self._weights_digest = state_digest(tower.state_dict())
        self._cache: TextFeatureCache | None = None

    @classmethod
    def tiny_random(cls, seed: int = 0, **options) -> ClipTextEncoder:
        """A randomly initialised ``TINY_CONFIG`` tower (width 32, 2 layers) for tests: the real code path."""
        return cls(model_config=TINY_CONFIG, random_seed=seed, **options)

    @property
    def clip(self) -> torch.nn.Module:
        """The open_clip ``TextTransformer`` (frozen; not a registered child module)."""
        return self._tower

    @property
    def device(self) -> torch.device:
        return self._tower.positional_embedding.device

    @property
    def weights_sha256(self) -> str:
        """sha256 of the tower's weights as loaded (``state_digest``)."""
        return self._weights_digest

    def extra_repr(self) -> str:
        return f"model={self.model_name}, context_length={self.context_length}, weights={self.weights_source}"

    def train(self, mode: bool = True) -> ClipTextEncoder:
        super().train(mode)
        self._tower.eval()  # frozen: always in inference mode, whatever the model around it does
        return self

    def _apply(self, fn, recurse: bool = True):
        # .to(), .cuda(), .half(), .double(), ... all go through _apply: move the unregistered tower too.
        if recurse:
            self._tower._apply(fn)
        return super()._apply(fn, recurse)

    # ------------------------------------------------------------------ encoding
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """open_clip's BPE ids ``(B, context_length)``: start, text, end, zeros; cut as OpenAI's CLIP cuts."""
        return _tokenizer()(check_texts(texts), context_length=self.context_length)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> TextFeatures:
        """Run the tower on ``texts`` (no cache), on the module's device."""
        from open_clip.transformer import text_global_pool

        tower = self.clip
        ids = self.tokenize(texts).to(self.device)
        length = ids.shape[1]
        cast = tower.transformer.get_cast_dtype()
        # Full precision even inside the trainer's bf16 autocast: cached features must not depend on it.
        with torch.autocast(device_type=ids.device.type, enabled=False):
            x = tower.token_embedding(ids).to(cast) + tower.positional_embedding[:length].to(cast)
            x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
            tokens = tower.ln_final(x)
            pooled = text_global_pool(tokens, ids, tower.pool_type, eos_token_id=tower.eos_id)
            if isinstance(tower.text_projection, torch.nn.Linear):
                pooled = tower.text_projection(pooled)
            else:
                pooled = pooled @ tower.text_projection
        # The end-of-text id is the largest id, so argmax finds it (open_clip's 'argmax' pooling does too).
        end = ids.argmax(dim=-1)
        mask = torch.arange(length, device=ids.device)[None, :] <= end[:, None]
        return TextFeatures(tokens.float(), mask, pooled.float())

    def forward(self, texts: Sequence[str]) -> TextFeatures:
        texts = check_texts(texts)
        cache = self.feature_cache()
        if cache is None:
            step = self.batch_size
            return TextFeatures.cat([self.encode(texts[i : i + step]) for i in range(0, len(texts), step)])
        return cache.get_or_compute(texts, self.encode, batch_size=self.batch_size).to(self.device)

    def precompute(self, texts: Sequence[str]) -> int:
        """Encode every text not yet cached (as FineMoGen precomputes features); returns how many were new."""
        cache = self.feature_cache()
        if cache is None:
            raise ValueError("precompute needs a cache: give cache_dir or memory_cache_items")
        before = cache.computed
        unique = list(dict.fromkeys(check_texts(texts)))
        for start in range(0, len(unique), 4 * self.batch_size):
            cache.get_or_compute(
                unique[start : start + 4 * self.batch_size], self.encode, batch_size=self.batch_size
            )
        return cache.computed - before

    # ------------------------------------------------------------------ identity and cache
    def identity(self) -> str:
        """sha256 of the config, context length, dtype and weights: the cache namespace of these features."""
        payload = {
            "format": 1,
            "encoder": "clip",
            "model": self.model_name,
            "config": self.model_config,
            "context_length": self.context_length,
            "dtype": str(self.clip.positional_embedding.dtype),
            "weights": self._weights_digest,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def feature_cache(self) -> TextFeatureCache | None:
        """The cache of these weights' features (``None`` when neither a folder nor memory caching is on)."""
        if self.cache_dir is None and self.memory_cache_items == 0:
            return None
        namespace = f"clip-{self.identity()[:16]}"
        if self._cache is None or self._cache.namespace != namespace:
            description = {
                "encoder": "clip",
                "model": self.model_name,
                "context_length": self.context_length,
                "dim": self.dim,
                "weights": self.weights_source,
                "weights_sha256": self._weights_digest,
            }
            self._cache = TextFeatureCache(
                self.cache_dir, namespace, memory_items=self.memory_cache_items, description=description
            )
        return self._cache

    # ------------------------------------------------------------------ checkpoints
    def get_extra_state(self) -> dict:
        """What a model checkpoint keeps of this encoder: which weights and context, not the weights."""
        return {
            "format": _STATE_FORMAT,
            "version": 1,
            "model": self.model_name,
            "context_length": self.context_length,
            "weights_sha256": self._weights_digest,
            "weights_source": self.weights_source,  # for the error message only: paths differ across machines
        }

    def set_extra_state(self, state: dict) -> None:
        """Check that a checkpoint was trained with this encoder's weights and context (nothing is loaded)."""
        keys = ("model", "context_length", "weights_sha256", "weights_source")
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT or not set(keys) <= set(state):
            raise MogenBenchError(
                "the checkpoint's CLIP text encoder state is not readable (no weights digest)",
                field="_extra_state",
                fix="use a checkpoint written by mogen-bench's ClipTextEncoder",
            )
        saved, source = str(state["weights_sha256"]), str(state["weights_source"])
        if saved != self._weights_digest or state["model"] != self.model_name:
            raise MogenBenchError(
                f"the checkpoint was trained with other CLIP weights ({state['model']}, sha256 {saved[:12]}, "
                f"from {source}) than this encoder was built with ({self.model_name}, sha256 "
                f"{self._weights_digest[:12]}, from {self.weights_source})",
                file=self.weights_source,
                field="clip_weights",
                fix=f"give the same --clip-weights file the checkpoint was trained with ({source})",
            )
        if state["context_length"] != self.context_length:
            raise MogenBenchError(
                f"the checkpoint was trained with CLIP context length {state['context_length']}, this "
                f"encoder uses {self.context_length}",
                field="clip_context",
                fix=f"set clip_context = {state['context_length']}, as in training",
            )

    # ------------------------------------------------------------------ files
    def save_weights(self, path: str | os.PathLike) -> Path:
        """Write the tower's weights (open_clip key names) to ``.safetensors`` or a ``torch.save`` file."""
        state = {key: value.detach().cpu().contiguous() for key, value in self.clip.state_dict().items()}
        if str(path).endswith(".safetensors"):
            from safetensors.torch import save

            data = save(state)
        else:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            data = buffer.getvalue()
        return atomic_write_bytes(path, data)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of a state dict (the same weights give the same digest)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _builtin_config() -> dict:
    import open_clip

    config = open_clip.get_model_config(MODEL_NAME)
    if config is None:  # pragma: no cover - open_clip>=3.3,<4 ships it
        raise RuntimeError(f"open_clip has no {MODEL_NAME} config")
    return config


def _check_config(config: dict) -> None:
    """The code below assumes CLIP's own text tower: causal, pooled at the end token, BPE vocabulary."""
    text = config.get("text_cfg", {})
    problems = []
    if text.get("hf_model_name"):
        problems.append("a Hugging Face text tower")
    if text.get("embed_cls") or text.get("no_causal_mask") or text.get("pool_type", "argmax") != "argmax":
        problems.append("not the causal, end-token-pooled CLIP text tower")
    if text.get("vocab_size", VOCAB_SIZE) != VOCAB_SIZE:
        problems.append(f"vocab_size {text.get('vocab_size')} is not CLIP's {VOCAB_SIZE}")
    if text.get("proj_type", "linear") == "none":
        problems.append("no text projection")
    if text.get("width", 512) != config.get("embed_dim"):
        problems.append(
            f"width {text.get('width', 512)} != embed_dim {config.get('embed_dim')} "
            "(tokens and pooled must share one size)"
        )
    if problems:
        raise ValueError("unsupported CLIP text config: " + "; ".join(problems))


def _download(download_dir: str | os.PathLike | None) -> Path:
    """open_clip's normal download of the ``openai`` weights (Hugging Face Hub first), only on request."""
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg

    pretrained = get_pretrained_cfg(MODEL_NAME, PRETRAINED_TAG)
    try:
        folder = None if download_dir is None else str(download_dir)
        target = download_pretrained(pretrained, cache_dir=folder)
    except Exception as error:
        raise MogenBenchError(
            f"could not download the OpenAI CLIP weights through open_clip ({type(error).__name__}: {error})",
            field="clip_download",
            fix="check the internet connection, or pass a local copy of the weights with --clip-weights PATH",
        ) from error
    if not target:
        raise MogenBenchError(
            f"open_clip knows no {PRETRAINED_TAG!r} weights for {MODEL_NAME}",
            field="clip_download",
            fix="pass the weights with --clip-weights PATH",
        )
    return Path(target)


def _read_text_weights(path: Path, tower: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The text-tower entries of a CLIP weights file, or an error naming what does not match."""
    from open_clip.factory import load_state_dict

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's TorchScript notice; the error below says it better
            state = load_state_dict(str(path), device="cpu", weights_only=True)
    except RuntimeError as error:
        if "TorchScript" in str(error):
            raise MogenBenchError(
                "is a TorchScript archive (like OpenAI's original ViT-B-32.pt); it is not loaded because "
                "loading TorchScript can run code",
                file=str(path),
                field="clip_weights",
                fix=WEIGHTS_FIX,
            ) from error
        raise MogenBenchError(
            f"cannot read CLIP weights ({error})", file=str(path), field="clip_weights", fix=WEIGHTS_FIX
        ) from error
    except Exception as error:
        raise MogenBenchError(
            f"cannot read CLIP weights ({type(error).__name__}: {error})",
            file=str(path),
            field="clip_weights",
            fix=WEIGHTS_FIX,
        ) from error
    if not isinstance(state, dict):
        raise MogenBenchError(
            f"holds a {type(state).__name__}, not a state dict",
            file=str(path),
            field="clip_weights",
            fix=WEIGHTS_FIX,
        )
    return select_text_weights(state, tower.state_dict(), path)


def select_text_weights(state: dict, expected: dict[str, torch.Tensor], source: str | os.PathLike) -> dict:
    """The entries of ``state`` (a CLIP checkpoint, possibly nested in a model's) that fill ``expected``,
    the text tower's own state dict; a ``MogenBenchError`` naming ``source`` and any missing, unexpected
    or wrongly shaped keys otherwise. Image-tower and logit entries of a full CLIP are skipped."""
    path = str(source)
    state = _strip_outer_prefix({str(key): value for key, value in state.items()})
    kept = {key: value for key, value in state.items() if key in expected}
    unexpected = [key for key in state if key not in expected and not key.startswith(_SKIPPED_PREFIXES)]
    missing = [key for key in expected if key not in kept]
    wrong = [
        f"{key} {_shape(value)} (expected {tuple(expected[key].shape)})"
        for key, value in kept.items()
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} keys with the wrong shape: {_listing(wrong)}")
    if problems:
        raise MogenBenchError(
            "does not hold the CLIP text tower this encoder expects: " + "; ".join(problems),
            file=path,
            field="clip_weights",
            fix=WEIGHTS_FIX,
        )
    return kept


def _strip_outer_prefix(state: dict) -> dict:
    """Keys of a CLIP nested in a bigger model (FineMoGen's ``model.clip.``) without that prefix."""
    anchor = "token_embedding.weight"
    if anchor in state:
        return state
    prefixes = {key[: -len(anchor)] for key in state if key.endswith("." + anchor)}
    if len(prefixes) != 1:
        return state
    prefix = prefixes.pop()
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else f"({type(value).__name__})"


def _listing(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown}, ... ({len(items) - limit} more)" if len(items) > limit else shown
