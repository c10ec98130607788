"""``siyu channels stores ...``: the stores (门店) store channels route to."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from siyu.acquisition import stores as svc
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, workspace_session
from siyu.kit.errors import Invalid
from siyu.staff.service import find_staff

app = typer.Typer(
    help="Stores (门店): name, city, location and staff, for store channels.", no_args_is_help=True
)
ACTOR = "cli"
Opt = typer.Option
NameOpt = Annotated[str | None, Opt("--name", help="Store name.")]
CityOpt = Annotated[str | None, Opt("--city", help="City (the landing page's city select).")]
AddressOpt = Annotated[str | None, Opt("--address", help="Street address (shown on the landing page).")]
LatOpt = Annotated[float | None, Opt("--lat", help="Latitude, -90…90.")]
LngOpt = Annotated[float | None, Opt("--lng", help="Longitude, -180…180.")]
StaffOpt = Annotated[
    list[str] | None, Opt("--staff", help="A staff account (WeCom userid) of the store; repeat.")
]


def _staff_ids(session: Session, workspace_id: int, userids: list[str]) -> list[int]:
    out = []
    for u in userids:
        for part in (p.strip() for p in u.split(",")):
            if not part:
                continue
            s = find_staff(session, workspace_id=workspace_id, userid=part)
            if s is None:
                raise Invalid(f"staff account {part!r} does not exist", field="staff_ids")
            out.append(s.id)
    return out


def _print(data: Any, as_json: bool) -> bool:
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    return as_json


def _input(
    session: Session, workspace_id: int, name: str | None, city: str | None, address: str | None,
    lat: float | None, lng: float | None, staff: list[str] | None,
) -> svc.StoreInput:  # fmt: skip
    return svc.StoreInput(
        name=name, city=city, address=address, lat=lat, lng=lng,
        staff_ids=_staff_ids(session, workspace_id, staff) if staff is not None else None,
    )  # fmt: skip


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False, city: CityOpt = None) -> None:
    """The stores, by city and name."""
    with workspace_session(workspace) as (session, ws):
        data = [svc.store_dict(s) for s in svc.list_stores(session, workspace_id=ws.id, city=city)]
    if _print(data, as_json):
        return
    table = Table()
    for col in ("id", "city", "name", "lat", "lng", "staff"):
        table.add_column(col)
    for d in data:
        staff = ",".join(str(i) for i in d["staff_ids"])
        table.add_row(str(d["id"]), escape(d["city"]), escape(d["name"]), f"{d['lat']:.5f}",
                      f"{d['lng']:.5f}", staff)  # fmt: skip
    console.print(table)


@app.command("create")
def create_cmd(
    name: NameOpt = None, city: CityOpt = None, lat: LatOpt = None, lng: LngOpt = None,
    staff: StaffOpt = None, address: AddressOpt = None,
    workspace: WorkspaceOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Add a store (name, city, lat/lng and at least one staff account)."""
    with workspace_session(workspace) as (session, ws):
        data = _input(session, ws.id, name, city, address, lat, lng, staff or [])
        out = svc.store_dict(svc.create_store(session, workspace_id=ws.id, data=data, actor=ACTOR))
    if not _print(out, as_json):
        console.print(f"store {out['id']} added ({escape(out['city'])} · {escape(out['name'])})")


@app.command("edit")
def edit_cmd(
    store_id: int, name: NameOpt = None, city: CityOpt = None, lat: LatOpt = None, lng: LngOpt = None,
    staff: StaffOpt = None, address: AddressOpt = None,
    workspace: WorkspaceOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Change a store; store channels routing to it re-sync their codes."""
    with workspace_session(workspace) as (session, ws):
        data = _input(session, ws.id, name, city, address, lat, lng, staff)
        out = svc.store_dict(
            svc.update_store(session, workspace_id=ws.id, store_id=store_id, data=data, actor=ACTOR)
        )
    if not _print(out, as_json):
        console.print(f"store {store_id} saved")


@app.command("delete")
def delete_cmd(store_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a store (its codes are removed by the store channels' sync; history stays)."""
    with workspace_session(workspace) as (session, ws):
        out = svc.store_dict(svc.delete_store(session, workspace_id=ws.id, store_id=store_id, actor=ACTOR))
    if not _print(out, as_json):
        console.print(f"store {store_id} deleted")
