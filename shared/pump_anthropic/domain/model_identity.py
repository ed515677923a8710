"""What a Claude model id names: its canonical id, family, version and display name. Pure.

The legacy reports name a model by its dated id (`claude-sonnet-4-5-20250929`), the analytics API by its alias
(`claude-sonnet-4-5`); both are one model, whose canonical id is the id without the date (`report.canonical_model`,
the `model` of GET /costs and the rate card). Family and version follow the two naming schemes Anthropic has used:
`claude-{family}-{major}[-{minor}]` (Claude 4 onwards) and `claude-{major}[-{minor}]-{family}` (Claude 3.x). An id
of any other shape keeps its canonical id but has no family or version: they are never guessed.

The fields anticipate FOCUS 1.5's model identity properties of SkuPriceDetails (ModelId, ModelDeveloper,
ModelFamily, ModelVersion: FOCUS_Spec pull request #2442, merged into the 1.5 working draft); see docs/focus.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pump_anthropic.domain.report import canonical_model

DEVELOPER = "Anthropic"
_FAMILY_FIRST = re.compile(r"claude-([a-z]+)-(\d+(?:-\d+)?)")
_VERSION_FIRST = re.compile(r"claude-(\d+(?:-\d+)?)-([a-z]+)")


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    model_id: str  # as the source reported it
    canonical_id: str
    family: str | None  # "Claude Sonnet"
    version: str | None  # "4.5"

    @property
    def developer(self) -> str:
        # The Claude API serves only models Anthropic develops.
        return DEVELOPER

    @property
    def display_name(self) -> str:
        """E.g. "Claude Sonnet 4.5"; the canonical id when the id does not parse."""
        if self.family is None or self.version is None:
            return self.canonical_id
        return f"{self.family} {self.version}"


@lru_cache(maxsize=1024)
def model_identity(model_id: str | None) -> ModelIdentity | None:
    """The identity of a reported model id; None when the line has no model (code execution)."""
    canonical = canonical_model(model_id)
    if model_id is None or canonical is None:
        return None
    family_first, version_first = _FAMILY_FIRST.fullmatch(canonical), _VERSION_FIRST.fullmatch(canonical)
    if family_first:
        family, version = family_first.groups()
    elif version_first:
        version, family = version_first.groups()
    else:
        return ModelIdentity(model_id, canonical, None, None)
    return ModelIdentity(model_id, canonical, f"Claude {family.capitalize()}", version.replace("-", "."))
