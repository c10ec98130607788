"""Stores (门店) and store channels: a landing link that routes to the nearest store.

A store has a name, a city, a location (lat/lng, WGS-84 degrees) and a staff pool. A
store channel (``channels.kind == "store"``) routes among its stores (``settings.
store_ids``; empty: every store of the workspace): its ``/c/{slug}`` page asks for the
city (a plain select, works without script) or, with the visitor's consent, the
browser's location, picks the nearest store and shows one of that store's accounts'
single-person codes. Each store's codes carry the state ``<channel state>~<store id>``
(``channels.store_state``), so the add is credited to the store: the channel's entry
tags and welcome apply (``channel_by_state`` maps the state to the channel), and the
funnel has one row per store.

The codes are kept by the channel's sync job (``sync_store_codes``); a change to a
store's staff queues the sync of every store channel that routes to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import routing
from siyu.acquisition.channels import _ids, _name, check_staff, queue_sync, store_state
from siyu.acquisition.dedup import exclusive
from siyu.kit import audit
from siyu.kit.errors import Conflict, Invalid, NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Channel, Store
from siyu.wecom.errors import WeComAPIError
from siyu.wecom.schemas import ContactWayRequest

EARTH_KM = 6371.0


@dataclass
class StoreInput:
    """What an operator sets on a store; ``None`` leaves a field as it is (edit)."""

    name: str | None = None
    city: str | None = None
    address: str | None = None
    lat: float | None = None
    lng: float | None = None
    staff_ids: list[int] | None = None


def _coord(value: Any, field_name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise Invalid(f"{field_name} must be a number of degrees", field=field_name)
    if not -limit <= float(value) <= limit:
        raise Invalid(f"{field_name} {value} is outside -{limit:g}…{limit:g} degrees", field=field_name)
    return float(value)


def _unique_name(session: Session, workspace_id: int, name: str, store_id: int | None = None) -> None:
    other = session.scalar(
        select(Store.id).where(
            Store.workspace_id == workspace_id, Store.name == name, Store.deleted_at.is_(None)
        )
    )
    if other is not None and other != store_id:
        raise Conflict(f"store name {name!r} is already used by store {other}", field="name")


def _staff(session: Session, workspace_id: int, staff_ids: Any) -> list[int]:
    ids = _ids(staff_ids, "staff_ids")
    if not ids:
        raise Invalid("a store needs at least one staff account", field="staff_ids")
    check_staff(session, workspace_id, ids, "staff_ids")
    return ids


def create_store(session: Session, *, workspace_id: int, data: StoreInput, actor: str) -> Store:
    """Validate and store a store (every field checked before anything is written)."""
    name = _name(data.name or "")
    city = _name(data.city or "", "city", 32)
    if data.lat is None or data.lng is None:
        raise Invalid("a store needs its location (lat and lng)", field="lat" if data.lat is None else "lng")
    lat = _coord(data.lat, "lat", 90)
    lng = _coord(data.lng, "lng", 180)
    address = _name(data.address, "address", 200) if data.address else None
    staff_ids = _staff(session, workspace_id, data.staff_ids or [])
    _unique_name(session, workspace_id, name)
    store = Store(
        workspace_id=workspace_id,
        name=name,
        city=city,
        address=address,
        lat=lat,
        lng=lng,
        staff_ids=staff_ids,
    )
    session.add(store)
    session.flush()
    audit.record(session, workspace_id=workspace_id, actor=actor, action="store.create", target_type="store",
                 target_id=str(store.id), detail={"name": name, "city": city})  # fmt: skip
    _resync(session, store, reason="store")
    return store


def get_store(session: Session, *, workspace_id: int, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None or store.workspace_id != workspace_id or store.deleted_at is not None:
        raise NotFound(f"store {store_id} does not exist", field="store_id")
    return store


def list_stores(session: Session, *, workspace_id: int, city: str | None = None) -> list[Store]:
    stmt = select(Store).where(Store.workspace_id == workspace_id, Store.deleted_at.is_(None))
    if city:
        stmt = stmt.where(Store.city == city)
    return list(session.scalars(stmt.order_by(Store.city, Store.name, Store.id)))


def update_store(
    session: Session, *, workspace_id: int, store_id: int, data: StoreInput, actor: str
) -> Store:
    """Change a store; store channels routing to it re-sync their codes."""
    store = get_store(session, workspace_id=workspace_id, store_id=store_id)
    name = _name(data.name) if data.name is not None else None
    if name is not None:
        _unique_name(session, workspace_id, name, store.id)
    city = _name(data.city, "city", 32) if data.city is not None else None
    lat = _coord(data.lat, "lat", 90) if data.lat is not None else None
    lng = _coord(data.lng, "lng", 180) if data.lng is not None else None
    address = _name(data.address, "address", 200) if data.address else None
    staff_ids = _staff(session, workspace_id, data.staff_ids) if data.staff_ids is not None else None
    changes: dict[str, Any] = {}
    for attr, value in (("name", name), ("city", city), ("lat", lat), ("lng", lng), ("address", address),
                        ("staff_ids", staff_ids)):  # fmt: skip
        if value is not None and getattr(store, attr) != value:
            setattr(store, attr, value)
            changes[attr] = value
    if changes:
        store.updated_at = utcnow()
        audit.record(session, workspace_id=workspace_id, actor=actor, action="store.update",
                     target_type="store", target_id=str(store.id), detail=changes)  # fmt: skip
        if "staff_ids" in changes:
            _resync(session, store, reason="store")
    return store


def delete_store(session: Session, *, workspace_id: int, store_id: int, actor: str) -> Store:
    """Mark a store deleted; its codes are removed by the store channels' sync."""
    store = get_store(session, workspace_id=workspace_id, store_id=store_id)
    store.deleted_at = utcnow()
    audit.record(session, workspace_id=workspace_id, actor=actor, action="store.delete", target_type="store",
                 target_id=str(store.id), detail={"name": store.name})  # fmt: skip
    _resync(session, store, reason="store")
    return store


def _resync(session: Session, store: Store, *, reason: str) -> None:
    for ch in store_channels(session, workspace_id=store.workspace_id):
        ids = (ch.settings or {}).get("store_ids") or []
        if not ids or store.id in ids:
            ch.sync_status = "pending"
            queue_sync(session, ch, reason=reason)


def store_channels(session: Session, *, workspace_id: int) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel).where(
                Channel.workspace_id == workspace_id, Channel.kind == "store", Channel.deleted_at.is_(None)
            )
        )
    )


def check_store_ids(session: Session, workspace_id: int, store_ids: Any) -> list[int]:
    """The stores a store channel routes among (empty: all of the workspace's)."""
    ids = _ids(store_ids, "store_ids")
    found = set(
        session.scalars(
            select(Store.id).where(
                Store.workspace_id == workspace_id, Store.id.in_(ids), Store.deleted_at.is_(None)
            )
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"store {missing[0]} does not exist", field="store_ids")
    if not ids and not found and not list_stores(session, workspace_id=workspace_id):
        raise Invalid("there is no store yet; add one with `siyu stores create`", field="store_ids")
    return ids


def channel_stores(session: Session, channel: Channel) -> list[Store]:
    """The live stores a store channel routes among."""
    ids = (channel.settings or {}).get("store_ids") or []
    stores = list_stores(session, workspace_id=channel.workspace_id)
    return [s for s in stores if not ids or s.id in ids]


def store_dict(store: Store) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "city": store.city,
        "address": store.address,
        "lat": store.lat,
        "lng": store.lng,
        "staff_ids": list(store.staff_ids or []),
    }


# --- routing a visit ------------------------------------------------------------------


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest(stores: Sequence[Store], lat: float, lng: float) -> Store | None:
    if not stores:
        return None
    return min(stores, key=lambda s: (distance_km(lat, lng, s.lat, s.lng), s.id))


def cities(stores: Iterable[Store]) -> list[str]:
    return sorted({s.city for s in stores})


def pick_account(session: Session, channel: Channel, store: Store) -> tuple[int, dict[str, Any]] | None:
    """The store's account for one visit: the least-loaded one that is not full, with its code."""
    codes = ((channel.settings or {}).get("store_codes") or {}).get(str(store.id)) or {}
    if not codes:
        return None
    cap_rows = routing.capacity_of(session, channel.workspace_id, [int(k) for k in codes])
    free = [
        (friends, sid)
        for sid, (friends, limit, ok) in cap_rows.items()
        if ok and (limit <= 0 or friends < limit)
    ]
    if not free:
        return None
    _, sid = min(free)
    return sid, codes[str(sid)]


# --- the store channel's codes (the sync job) ----------------------------------------------


def sync_store_codes(session: Session, channel: Channel, gateway: Any) -> dict[str, Any]:
    """One single-person code per (store, account) with the store's state; stale ones removed."""
    stores = {s.id: s for s in channel_stores(session, channel)}
    codes: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in ((channel.settings or {}).get("store_codes") or {}).items()
    }
    staff = routing.staff_by_ids(
        session, channel.workspace_id, sorted({i for s in stores.values() for i in s.staff_ids or []})
    )
    made = removed = 0
    for store_key in list(codes):
        store = stores.get(int(store_key))
        keep = {str(i) for i in (store.staff_ids or [])} if store is not None else set()
        for sid in list(codes[store_key]):
            s = staff.get(int(sid))
            if sid in keep and s is not None and s.status == "active":
                continue
            try:
                gateway.del_contact_way(codes[store_key][sid]["config_id"])
            except WeComAPIError as exc:
                if exc.errcode != 41044:
                    raise
            del codes[store_key][sid]
            removed += 1
        if not codes[store_key]:
            del codes[store_key]
    for store in stores.values():
        per = codes.setdefault(str(store.id), {})
        state = store_state(channel, store.id)
        for member in store.staff_ids or []:
            s = staff.get(int(member))
            if s is None or s.status != "active" or str(member) in per:
                continue
            resp = gateway.add_contact_way(
                ContactWayRequest(
                    type=1, scene=2, remark=f"{store.name}"[:30], skip_verify=channel.skip_verify,
                    state=state, user=[s.userid], is_exclusive=exclusive(channel),
                )
            )  # fmt: skip
            per[str(member)] = {"config_id": resp.config_id, "qr_code": resp.qr_code, "userid": s.userid}
            made += 1
            # Saved as it goes: a refusal halfway keeps the codes already made.
            channel.settings = {**(channel.settings or {}), "store_codes": {**codes}}
        if not per:
            del codes[str(store.id)]
    channel.settings = {**(channel.settings or {}), "store_codes": codes}
    if not codes:
        return {"no_staff": True, "codes_made": made, "codes_removed": removed}
    return {"codes_made": made, "codes_removed": removed}
