"""The workspace's archive choices, read from ``Workspace.settings["archive"]``.

- ``store_text``: ``encrypted`` (default: message text kept, encrypted with the vault)
  or ``none`` (only who, when, type and direction are kept).
- ``retention_days``: message text older than this is erased by the daily purge
  (default 180); the rows stay for the metrics.
- ``covered``: the staff userids the archive licence covers (``["*"]``, the default
  once messages arrive, means every account); metrics fall back to WeCom's
  ``get_user_behavior_data`` for accounts outside it.
- ``viewer_roles``: console roles that may open the archive viewer (default owner and
  admin).
- ``stall_minutes``: alert when the pull's ``seq`` has not moved for this long while
  the SDK is configured (default 1440: a day without a new message is worth a look; WeCom keeps about 5 days).
- ``sdk_library``: path of the Finance SDK shared library (``libWeWorkFinanceSdk_C.so``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siyu.kit.errors import Invalid

SETTINGS_KEY = "archive"
STORE_TEXT = ("encrypted", "none")
ROLES = ("owner", "admin", "operator", "staff")


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    store_text: str = "encrypted"
    retention_days: int = 180
    covered: tuple[str, ...] = ("*",)
    viewer_roles: tuple[str, ...] = ("owner", "admin")
    stall_minutes: int = 1440
    sdk_library: str = ""

    def covers(self, userid: str) -> bool:
        return "*" in self.covered or userid in self.covered

    def as_dict(self) -> dict[str, Any]:
        return {
            "store_text": self.store_text,
            "retention_days": self.retention_days,
            "covered": list(self.covered),
            "viewer_roles": list(self.viewer_roles),
            "stall_minutes": self.stall_minutes,
            "sdk_library": self.sdk_library,
        }


def _field(key: str) -> str:
    return f"settings.archive.{key}"


def _positive(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Invalid(
            f"archive setting {key} must be a positive whole number, got {value!r}", field=_field(key)
        )
    return value


def _names(raw: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid(f"archive setting {key} must be a list of names, got {value!r}", field=_field(key))
    return tuple(v.strip() for v in value)


def parse_settings(raw: Mapping[str, Any] | None) -> ArchiveSettings:
    """Check an ``archive`` settings object (defaults where a key is absent)."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise Invalid("workspace setting 'archive' must be an object", field="settings.archive")
    unknown = sorted(set(raw) - set(ArchiveSettings().as_dict()))
    if unknown:
        raise Invalid(f"unknown archive setting {unknown[0]!r}", field=_field(unknown[0]))
    d = ArchiveSettings()
    store = raw.get("store_text", d.store_text)
    if store not in STORE_TEXT:
        raise Invalid(
            f"archive setting store_text must be 'encrypted' or 'none', got {store!r}",
            field=_field("store_text"),
        )
    roles = _names(raw, "viewer_roles", d.viewer_roles)
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise Invalid(
            f"archive setting viewer_roles: unknown role {bad[0]!r} (one of {', '.join(ROLES)})",
            field=_field("viewer_roles"),
        )
    library = raw.get("sdk_library", "")
    if not isinstance(library, str):
        raise Invalid("archive setting sdk_library must be a path", field=_field("sdk_library"))
    return ArchiveSettings(
        store_text=store,
        retention_days=_positive(raw, "retention_days", d.retention_days),
        covered=_names(raw, "covered", d.covered),
        viewer_roles=roles,
        stall_minutes=_positive(raw, "stall_minutes", d.stall_minutes),
        sdk_library=library,
    )


def archive_settings(settings: Mapping[str, Any] | None) -> ArchiveSettings:
    """The archive settings of a workspace's ``settings``."""
    return parse_settings((settings or {}).get(SETTINGS_KEY))


def update_settings(settings: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The workspace settings with the archive part changed (checked first); a new dict."""
    current = dict((settings or {}).get(SETTINGS_KEY) or {})
    current.update(changes)
    checked = parse_settings(current)
    return {**(settings or {}), SETTINGS_KEY: checked.as_dict()}
