"""A plan's parts as data: triggers, steps, exits, and when each step is due.

Everything here is pure (no database): the service checks references (content,
tags, channels, segments) against the workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from siyu.kit.errors import Invalid
from siyu.kit.timeutil import zone

# Event-driven triggers (a subscriber enrolls on the event) and state ones (a scan).
EVENT_TRIGGERS = ("friend_added", "tag_added", "tag_removed", "joined_group")
STATE_TRIGGERS = ("first_order", "category_order", "layer_changed", "inactive", "date_field", "segment")
TRIGGERS = EVENT_TRIGGERS + STATE_TRIGGERS
ACTIONS = ("task", "send", "group_message", "tag", "moment")
EXITS = ("bought", "opted_out", "left", "replied", "tag_added")
# A plan's subject: customers (one enrollment per customer and occurrence) or groups (one
# enrollment per group, ever). Group plans have their own triggers, steps and exits.
SUBJECTS = ("customer", "group")
# group_created: on WeCom's create callback, and by the scan for groups a sync brought;
# group_type / group_age: by the scan.
GROUP_TRIGGERS = ("group_created", "group_type", "group_age")
GROUP_ACTIONS = ("task", "group_message")
GROUP_EXITS = ("dismissed",)
# Plans whose trigger the periodic scan checks (the rest enroll on events).
SCANNED = STATE_TRIGGERS + GROUP_TRIGGERS
SCORE_FIELDS = ("layer_value", "layer_tier", "layer_age", "lifecycle", "rfm_segment", "rfm8")
# ``birthday`` is the customer's own column; any other key names a custom profile field of
# kind ``date`` (checked against the workspace when the plan is saved).
BUILTIN_DATE_FIELDS = ("birthday",)
DATE_REPEATS = ("yearly", "once")
# State triggers a customer can leave and come back to: with ``reentry`` the plan enrolls
# them again on each return (never while still in; never twice for one stay).
REENTRY_TRIGGERS = ("layer_changed", "segment")
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_STEPS = 30
MAX_DAY = 366
DEFAULT_QUIET = ("22:00", "08:00")


def _hhmm(value: Any, field: str) -> str:
    try:
        t = time.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"{field} is a time of day as HH:MM, not {value!r}", field=field) from None
    return f"{t:%H:%M}"


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"{field} is a whole number from {lo} to {hi}, not {value!r}", field=field)
    return value


def _text(value: Any, field: str, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise Invalid(f"{field} is a text of 1 to {max_len} characters", field=field)
    return value.strip()


def check_subject(raw: Any) -> str:
    subject = raw or "customer"
    if subject not in SUBJECTS:
        raise Invalid(f"subject is one of {', '.join(SUBJECTS)}, not {raw!r}", field="subject")
    return str(subject)


def check_trigger(raw: Any, subject: str = "customer") -> dict[str, Any]:
    """The trigger, normalised; Invalid naming the field otherwise (a customer trigger in
    a group plan, or a group trigger in a customer plan, included)."""
    own, other = (GROUP_TRIGGERS, TRIGGERS) if subject == "group" else (TRIGGERS, GROUP_TRIGGERS)
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if isinstance(kind, str) and kind in other:
        raise Invalid(
            f"trigger.kind {kind} is for {'customer' if subject == 'group' else 'group'} plans; "
            f"a {subject} plan's trigger is one of {', '.join(own)}",
            field="trigger.kind",
        )
    if not isinstance(raw, dict) or kind not in own:
        raise Invalid(f"trigger.kind is one of {', '.join(own)}", field="trigger.kind")
    out: dict[str, Any] = {"kind": kind}
    reentry = raw.get("reentry")
    if reentry not in (None, False):
        if reentry is not True:
            raise Invalid(f"trigger.reentry is true or false, not {reentry!r}", field="trigger.reentry")
        if subject == "group" or kind not in REENTRY_TRIGGERS:
            raise Invalid(
                f"trigger.reentry is for {' and '.join(REENTRY_TRIGGERS)} triggers (a customer who "
                f"leaves the layer or segment and comes back), not {kind}",
                field="trigger.reentry",
            )
        out["reentry"] = True
    if subject == "group":
        return _group_trigger(raw, out)
    if kind == "friend_added":
        if raw.get("channel") not in (None, ""):
            out["channel"] = _text(raw["channel"], "trigger.channel", 30)
    elif kind in ("tag_added", "tag_removed"):
        out["tag"] = _text(raw.get("tag"), "trigger.tag", 64)
    elif kind == "joined_group":
        if raw.get("group") not in (None, ""):
            out["group"] = _text(raw["group"], "trigger.group", 128)
    elif kind == "category_order":
        out["category"] = _text(raw.get("category"), "trigger.category", 64)
    elif kind == "layer_changed":
        field = raw.get("field", "layer_value")
        if field not in SCORE_FIELDS:
            raise Invalid(f"trigger.field is one of {', '.join(SCORE_FIELDS)}", field="trigger.field")
        out["field"] = field
        out["to"] = _text(raw.get("to"), "trigger.to", 32)
    elif kind == "inactive":
        what = raw.get("what", "order")
        if what not in ("order", "interaction"):
            raise Invalid("trigger.what is order or interaction", field="trigger.what")
        out["what"] = what
        out["days"] = _int(raw.get("days"), "trigger.days", 1, 3650)
    elif kind == "date_field":
        field = raw.get("field", "birthday")
        if not isinstance(field, str) or not FIELD_KEY.match(field):
            raise Invalid(
                "trigger.field is birthday or the key of a date profile field", field="trigger.field"
            )
        out["field"] = field
        out["days_before"] = _int(raw.get("days_before", 0), "trigger.days_before", 0, 366)
        out["days_after"] = _int(raw.get("days_after", 0), "trigger.days_after", 0, 366)
        if out["days_before"] and out["days_after"]:
            raise Invalid("trigger: give days_before or days_after, not both", field="trigger.days_after")
        repeat = raw.get("repeat", "yearly")
        if repeat not in DATE_REPEATS:
            raise Invalid("trigger.repeat is yearly or once", field="trigger.repeat")
        out["repeat"] = repeat
    elif kind == "segment":
        out["segment"] = _text(raw.get("segment"), "trigger.segment", 100)
    return out


def _group_trigger(raw: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """A group trigger: ``group_type`` (required for the ``group_type`` kind) and
    ``owner`` (the owning staff account's userid) narrow it; ``group_age`` takes ``days``."""
    kind = out["kind"]
    if kind == "group_type" or raw.get("group_type") not in (None, ""):
        out["group_type"] = _text(raw.get("group_type"), "trigger.group_type", 16)
    if raw.get("owner") not in (None, ""):
        out["owner"] = _text(raw["owner"], "trigger.owner", 64)
    if kind == "group_age":
        out["days"] = _int(raw.get("days"), "trigger.days", 1, 3650)
    return out


def check_step(raw: Any, n: int, subject: str = "customer") -> dict[str, Any]:
    f = f"steps[{n}]"
    if not isinstance(raw, dict):
        raise Invalid(f"{f} is an object with day, action ...", field=f)
    action = raw.get("action", "task")
    if action not in ACTIONS:
        raise Invalid(f"{f}.action is one of {', '.join(ACTIONS)}", field=f"{f}.action")
    if subject == "group" and action not in GROUP_ACTIONS:
        raise Invalid(
            f"{f}.action {action} reaches customers one by one; "
            f"a group plan's steps are {' or '.join(GROUP_ACTIONS)}",
            field=f"{f}.action",
        )
    out: dict[str, Any] = {
        "day": _int(raw.get("day", 0), f"{f}.day", 0, MAX_DAY),
        "action": action,
        "title": _text(raw.get("title") or _default_title(action), f"{f}.title"),
    }
    if raw.get("at") not in (None, ""):
        out["at"] = _hhmm(raw["at"], f"{f}.at")
    if raw.get("delay_minutes") not in (None, 0):
        out["delay_minutes"] = _int(raw["delay_minutes"], f"{f}.delay_minutes", 0, 24 * 60)
    if raw.get("content_id") is not None:
        out["content_id"] = _int(raw["content_id"], f"{f}.content_id", 1, 2**62)
    if raw.get("body"):
        out["body"] = _text(raw["body"], f"{f}.body", 2000)
    out["priority"] = _int(raw.get("priority", 2), f"{f}.priority", 1, 3)
    if raw.get("due_hours") is not None:
        out["due_hours"] = _int(raw["due_hours"], f"{f}.due_hours", 1, 24 * 30)
    if action == "tag":
        add = [_text(t, f"{f}.add_tags", 64) for t in raw.get("add_tags") or []]
        remove = [_text(t, f"{f}.remove_tags", 64) for t in raw.get("remove_tags") or []]
        if not add and not remove:
            raise Invalid(f"{f}: a tag step adds or removes at least one tag", field=f"{f}.add_tags")
        out["add_tags"], out["remove_tags"] = add, remove
    elif action in ("send", "group_message", "moment") and "content_id" not in out and "body" not in out:
        raise Invalid(f"{f}: a {action} step needs content_id or body", field=f"{f}.content_id")
    if action == "moment":
        for key, limit in (("staff", 64), ("visible_tags", 64)):
            raw_list = raw.get(key) or []
            if not isinstance(raw_list, list):
                raise Invalid(f"{f}.{key} is a list of names", field=f"{f}.{key}")
            if raw_list:
                out[key] = [_text(v, f"{f}.{key}", limit) for v in raw_list]
    return out


def _default_title(action: str) -> str:
    return {
        "task": "跟进客户",
        "send": "发送消息",
        "group_message": "群发消息",
        "tag": "调整标签",
        "moment": "发朋友圈",
    }[action]


def check_steps(raw: Any, subject: str = "customer") -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("a plan needs at least one step", field="steps")
    if len(raw) > MAX_STEPS:
        raise Invalid(f"a plan has at most {MAX_STEPS} steps", field="steps")
    steps = [check_step(s, n, subject) for n, s in enumerate(raw)]
    for n in range(1, len(steps)):
        if _offset(steps[n]) < _offset(steps[n - 1]):
            raise Invalid(
                f"steps[{n}] comes before steps[{n - 1}]: order steps by day and time",
                field=f"steps[{n}].day",
            )
    return steps


def _offset(step: dict[str, Any]) -> tuple[int, int]:
    at = step.get("at")
    minutes = int(at[:2]) * 60 + int(at[3:]) if at else int(step.get("delay_minutes", 0))
    return step["day"], minutes


def check_exits(raw: Any, subject: str = "customer") -> list[dict[str, Any]]:
    """The exits, normalised. A group plan's only exit is ``dismissed`` (and it always
    applies: a dismissed group leaves its plans whether or not the plan lists it)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise Invalid('exits is a list such as [{"kind": "bought"}]', field="exits")
    own, other = (GROUP_EXITS, EXITS) if subject == "group" else (EXITS, GROUP_EXITS)
    out: list[dict[str, Any]] = []
    for n, e in enumerate(raw):
        item = {"kind": e} if isinstance(e, str) else e
        kind = item.get("kind") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind in other:
            raise Invalid(
                f"exits[{n}].kind {kind} is for {'customer' if subject == 'group' else 'group'} plans; "
                f"a {subject} plan exits on {', '.join(own)}",
                field=f"exits[{n}].kind",
            )
        if not isinstance(item, dict) or kind not in own:
            raise Invalid(f"exits[{n}].kind is one of {', '.join(own)}", field=f"exits[{n}].kind")
        one: dict[str, Any] = {"kind": item["kind"]}
        if item["kind"] == "tag_added":
            one["tag"] = _text(item.get("tag"), f"exits[{n}].tag", 64)
        out.append(one)
    return out


def loop_in(trigger: dict[str, Any], steps: list[dict[str, Any]]) -> int | None:
    """The index of a step whose tag change would trigger the plan again, if any."""
    kind = trigger["kind"]
    for n, step in enumerate(steps):
        if step["action"] != "tag":
            continue
        if kind == "tag_added" and trigger["tag"] in step["add_tags"]:
            return n
        if kind == "tag_removed" and trigger["tag"] in step["remove_tags"]:
            return n
    return None


@dataclass(frozen=True)
class Quiet:
    """Quiet hours in the workspace zone (no step is due inside them)."""

    start: time
    end: time

    @classmethod
    def of(cls, settings: dict[str, Any] | None) -> Quiet:
        raw = (settings or {}).get("quiet_hours") or {}
        start = raw.get("start", DEFAULT_QUIET[0]) if isinstance(raw, dict) else DEFAULT_QUIET[0]
        end = raw.get("end", DEFAULT_QUIET[1]) if isinstance(raw, dict) else DEFAULT_QUIET[1]
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def inside(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def push_out(self, local: datetime) -> datetime:
        """``local`` itself, or the end of the quiet spell it falls in (same zone)."""
        t = local.timetz().replace(tzinfo=None)
        if not self.inside(t):
            return local
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end = end + timedelta(days=1)
            end = end.replace(hour=self.end.hour, minute=self.end.minute)
        return end


def due_at(step: dict[str, Any], entered_at: datetime, *, tz: str | None, quiet: Quiet) -> datetime:
    """When ``step`` is due for a customer who entered at ``entered_at`` (aware UTC).

    ``at`` is a time of day on the entry's local day plus ``day`` days; a time already
    past on day 0 means "now". Without ``at`` the step is ``day`` days and
    ``delay_minutes`` after entry. Never inside quiet hours: pushed to their end.
    """
    z = zone(tz)
    local_entry = entered_at.astimezone(z)
    if step.get("at"):
        hh, mm = int(step["at"][:2]), int(step["at"][3:])
        day = local_entry.date() + timedelta(days=step["day"])
        wanted = datetime(day.year, day.month, day.day, hh, mm, tzinfo=z)
        if wanted < local_entry:
            wanted = local_entry
    else:
        wanted = (
            entered_at + timedelta(days=step["day"], minutes=int(step.get("delay_minutes", 0)))
        ).astimezone(z)
    return quiet.push_out(wanted).astimezone(UTC)
