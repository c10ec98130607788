"""Workspace knobs for scores and layers, read from ``Workspace.settings["segments"]``.

Every knob has a documented default (docs/metrics.md); a bad value is refused with the
settings key that holds it, so that a typo in the console never silently changes layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siyu.kit.errors import Invalid
from siyu.segments.rfm import Center

SETTINGS_KEY = "segments"


@dataclass(frozen=True)
class SegmentKnobs:
    """Thresholds for layers and the centre of the 8-class RFM."""

    new_days: int = 30
    svip_yuan: int = 5000
    vip_yuan: int = 3000
    silent_days: int = 90
    rfm8_center: Center = "mean"

    @property
    def svip_fen(self) -> int:
        return self.svip_yuan * 100

    @property
    def vip_fen(self) -> int:
        return self.vip_yuan * 100


def _positive_int(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Invalid(
            f"workspace setting segments.{key} must be a positive whole number, got {value!r}",
            field=f"settings.segments.{key}",
        )
    return value


def knobs_from_settings(settings: Mapping[str, Any] | None) -> SegmentKnobs:
    """The knobs of a workspace (defaults where a key is absent)."""
    raw = (settings or {}).get(SETTINGS_KEY) or {}
    if not isinstance(raw, Mapping):
        raise Invalid("workspace setting 'segments' must be an object", field="settings.segments")
    d = SegmentKnobs()
    center = raw.get("rfm8_center", d.rfm8_center)
    if center not in ("mean", "median"):
        raise Invalid(
            f"workspace setting segments.rfm8_center must be 'mean' or 'median', got {center!r}",
            field="settings.segments.rfm8_center",
        )
    knobs = SegmentKnobs(
        new_days=_positive_int(raw, "new_days", d.new_days),
        svip_yuan=_positive_int(raw, "svip_yuan", d.svip_yuan),
        vip_yuan=_positive_int(raw, "vip_yuan", d.vip_yuan),
        silent_days=_positive_int(raw, "silent_days", d.silent_days),
        rfm8_center=center,
    )
    if knobs.vip_yuan > knobs.svip_yuan:
        raise Invalid(
            f"workspace setting segments.vip_yuan ({knobs.vip_yuan}) is above svip_yuan "
            f"({knobs.svip_yuan}); SVIP must be the higher threshold",
            field="settings.segments.vip_yuan",
        )
    return knobs
