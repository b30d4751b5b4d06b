"""The body-part vocabulary of fine-grained annotations, and the one table mapping HuMMan-MoGen keys to it.

HuMMan-MoGen describes every stage once overall and once for each of seven body parts. Its JSON uses
the keys ``all``, ``stem`` and ``pelvis`` where this project says ``overall``, ``spine`` and
``trajectory``; every other module asks this table instead of spelling either name itself.
Left and right are the subject's own, as in SMPL.
"""

from __future__ import annotations

import difflib

#: The seven body parts, in the order FineMoGen concatenates its part tokens.
PARTS: tuple[str, ...] = ("head", "spine", "left_arm", "right_arm", "left_leg", "right_leg", "trajectory")

#: The whole-stage description.
OVERALL = "overall"

#: Every text a stage carries: the overall description first, then the parts.
TEXT_FIELDS: tuple[str, ...] = (OVERALL, *PARTS)

#: Canonical name -> HuMMan-MoGen JSON key. The only place the aliases are written down.
HUMMAN_KEYS: dict[str, str] = {
    "overall": "all",
    "head": "head",
    "spine": "stem",
    "left_arm": "left_arm",
    "right_arm": "right_arm",
    "left_leg": "left_leg",
    "right_leg": "right_leg",
    "trajectory": "pelvis",
}

#: HuMMan-MoGen key or canonical name -> canonical name (both spellings are accepted on input).
_ALIASES: dict[str, str] = {**{v: k for k, v in HUMMAN_KEYS.items()}, **{k: k for k in HUMMAN_KEYS}}


def canonical_text_field(name: str) -> str | None:
    """The canonical text field for ``name`` (canonical or HuMMan spelling), or ``None`` if unknown."""
    return _ALIASES.get(name)


def known_text_names() -> tuple[str, ...]:
    """Every spelling a text field may have on input, canonical names first."""
    return (*TEXT_FIELDS, *(k for k in HUMMAN_KEYS.values() if k not in HUMMAN_KEYS))


def suggest_text_field(name: str) -> str | None:
    """The closest known text-field spelling to a misspelt ``name``, for "did you mean" hints."""
    match = difflib.get_close_matches(name, known_text_names(), n=1, cutoff=0.6)
    return match[0] if match else None


def resolve_text_field(name: str) -> str:
    """Canonical field for ``name``; raises ``ValueError`` naming the valid choices when unknown."""
    field = canonical_text_field(name)
    if field is None:
        hint = suggest_text_field(name)
        did_you_mean = f" (did you mean {hint!r}?)" if hint else ""
        raise ValueError(
            f"unknown body part {name!r}{did_you_mean}; use one of {', '.join(TEXT_FIELDS)} "
            f"or the HuMMan-MoGen keys {', '.join(HUMMAN_KEYS.values())}"
        )
    return field
