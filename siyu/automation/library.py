"""The content library (素材库 / 话术库): checks per kind, listing, editing, variables, limits.

``siyu.automation.content`` stays the contract other domains call (``get_content``,
``create_content``); this module adds what the library's own doors need. Files are
checked against WeCom's media limits when they enter the library, so nothing that
WeCom would refuse is ever planned (image 10 MB JPG/PNG, video 10 MB MP4, file 20 MB).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.automation.content import KINDS, create_content, get_content
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import utcnow
from siyu.models import ContentItem

MB = 1024 * 1024
# WeCom temporary media limits (media/upload).
MEDIA_LIMITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "image": (10 * MB, (".jpg", ".jpeg", ".png")),
    "video": (10 * MB, (".mp4",)),
    "file": (20 * MB, ()),
}
TEXT_MAX_BYTES = 4000
# add_msg_template's miniprogram: title ≤ 64 bytes, appid of a mini-program linked to
# the corp, page a path ending in .html, a cover uploaded as temporary media (an image).
MINI_TITLE_MAX_BYTES = 64
SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
MINI_APPID = re.compile(r"wx[0-9A-Za-z]{16}")
FOLDER_MAX = 100
VARIABLE = re.compile(r"\{([^{}\s]{1,20})\}")
# Variables siyu fills: per staff account (usable in mass sends) and per customer
# (usable only where one message goes to one customer: welcomes, tasks, the sidebar).
STAFF_VARIABLES = {"员工姓名": "staff_name", "staff_name": "staff_name"}
CUSTOMER_VARIABLES = {"客户昵称": "customer_name", "customer_name": "customer_name"}


def variables(text: str | None) -> list[str]:
    return VARIABLE.findall(text or "")


def check_text(text: str | None, *, per_customer: bool, field: str = "text") -> None:
    """Refuse unknown variables, customer variables where one text goes to many, and > 4,000 bytes."""
    if text is None:
        return
    if len(text.encode()) > TEXT_MAX_BYTES:
        raise Invalid(
            f"a text is at most {TEXT_MAX_BYTES} bytes (UTF-8); this one has {len(text.encode())}",
            field=field,
        )
    for name in variables(text):
        if name in STAFF_VARIABLES:
            continue
        if name in CUSTOMER_VARIABLES:
            if not per_customer:
                raise Invalid(
                    f"{{{name}}} is filled per customer; a mass send has one text for all "
                    "(use {员工姓名} only)",
                    field=field,
                )
            continue
        raise Invalid(f"unknown variable {{{name}}}; known: 员工姓名, 客户昵称", field=field)


def fill(text: str, values: Mapping[str, str]) -> str:
    """Put the values in (by variable name or its English alias)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        key = STAFF_VARIABLES.get(name) or CUSTOMER_VARIABLES.get(name) or name
        return values.get(key, m.group(0))

    return VARIABLE.sub(one, text)


def check_media(kind: str, name: str, size: int) -> None:
    """WeCom's limits for a file of this kind (before anything is uploaded or planned)."""
    if kind not in MEDIA_LIMITS:
        return
    limit, exts = MEDIA_LIMITS[kind]
    if size <= 0:
        raise Invalid(f"the {kind} file is empty", field="path")
    if size > limit:
        raise Invalid(
            f"WeCom takes a {kind} of at most {limit // MB} MB; this one is {size / MB:.1f} MB", field="path"
        )
    if exts and Path(name).suffix.lower() not in exts:
        raise Invalid(f"WeCom takes a {kind} as {'/'.join(e[1:].upper() for e in exts)} only", field="path")


def content_store() -> Path:
    """Where library files are kept: ``SIYU_CONTENT_DIR``, else ``content_files`` in the
    directory siyu runs in (where the default SQLite database ``./siyu.db`` lives too; siyu
    has no other data directory). Absolute, so a stored path stays right for a worker
    started elsewhere."""
    return Path(os.environ.get("SIYU_CONTENT_DIR") or "content_files").absolute()


def media_kind(kind: str) -> str | None:
    """The WeCom media type a library kind's file goes up as (a mini-program's cover: image)."""
    if kind == "miniprogram":
        return "image"
    return kind if kind in MEDIA_LIMITS else None


def check_body(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's own fields, checked; returns the body to store."""
    out = dict(body)
    if kind == "link":
        url = str(out.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise Invalid("a link needs a url starting with http:// or https://", field="url")
        out.setdefault("desc", "")
    elif kind == "miniprogram":
        for key in ("appid", "page"):
            if not out.get(key):
                raise Invalid(f"a mini-program needs its {key}", field=key)
        appid, page = str(out["appid"]).strip(), str(out["page"]).strip()
        if not MINI_APPID.fullmatch(appid):
            raise Invalid(
                f"a mini-program appid is wx and 16 letters or digits, not {appid!r}", field="appid"
            )
        if not page.split("?", 1)[0].endswith(".html"):
            raise Invalid(
                f"WeCom wants a mini-program page ending in .html (e.g. pages/index.html), not {page!r}",
                field="page",
            )
        out.update(appid=appid, page=page)
        if out.get("size") is not None:
            check_media("image", str(out.get("name") or ""), int(out.get("size") or 0))
    elif kind in MEDIA_LIMITS:
        check_media(kind, str(out.get("name") or ""), int(out.get("size") or 0))
    return out


def add_item(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    title: str,
    text: str | None = None,
    folder: str = "",
    tags: Sequence[str] = (),
    body: Mapping[str, Any] | None = None,
    path: Path | None = None,
    store_dir: Path | None = None,
    upload: tuple[str, bytes] | None = None,
    actor: str = "system",
) -> ContentItem:
    """A new library item; a file (``path``, or ``upload`` = (name, bytes) from a form or
    the API) is checked against WeCom's limits and copied to ``store_dir`` (default
    ``content_store()``). A mini-program's file is its cover picture (an image)."""
    if kind not in KINDS:
        raise Invalid(f"content kind is one of {', '.join(KINDS)}, not {kind!r}", field="kind")
    data = dict(body or {})
    to_write: tuple[Path, bytes] | None = None  # written once every check passed
    if path is not None or upload is not None:
        if media_kind(kind) is None:
            raise Invalid(f"a {kind} has no file", field="path")
        if upload is not None:
            name, raw = Path(upload[0].replace("\\", "/").replace("\0", "")).name[:200], upload[1]
            store_dir = store_dir or content_store()
        else:
            assert path is not None
            if not path.is_file():
                raise Invalid(f"no such file: {path}", field="path")
            name, raw = path.name, path.read_bytes()
        check_media(str(media_kind(kind)), name, len(raw))
        digest = hashlib.sha256(raw).hexdigest()
        data.update(name=name, size=len(raw), sha256=digest)
        if store_dir is not None:
            suffix = Path(name).suffix.lower()  # checked above for images and videos; a file's may be odd
            if not SAFE_SUFFIX.fullmatch(suffix):
                suffix = ""
            target = store_dir / f"{digest}{suffix}"
            to_write = (target, raw)
            data["stored_path"] = str(target)
    if kind == "miniprogram":
        if len(title.strip().encode()) > MINI_TITLE_MAX_BYTES:
            raise Invalid(
                f"a mini-program title is at most {MINI_TITLE_MAX_BYTES} bytes (UTF-8: 21 Chinese)",
                field="title",
            )
        if not data.get("stored_path"):
            raise Invalid("a mini-program needs its cover picture (JPG/PNG, ≤ 10 MB; 520×416 suggested)",
                          field="path")  # fmt: skip
    if len(folder.strip()) > FOLDER_MAX:
        raise Invalid(f"a folder name is at most {FOLDER_MAX} characters", field="folder")
    if kind in ("text", "script") and not (text or "").strip():
        raise Invalid(f"a {kind} needs its text", field="text")
    check_text(text, per_customer=True)
    data = check_body(kind, data)
    if len(title.strip()) > 200 or not title.strip():
        raise Invalid("a title of 1 to 200 characters is needed", field="title")
    if to_write is not None:
        to_write[0].parent.mkdir(parents=True, exist_ok=True)
        to_write[0].write_bytes(to_write[1])
    return create_content(
        session,
        workspace_id=workspace_id,
        kind=kind,
        title=title,
        text=text,
        folder=folder.strip(),
        tags=[t.strip() for t in tags if t.strip()],
        body=data,
        actor=actor,
    )


def list_items(
    session: Session,
    *,
    workspace_id: int,
    kind: str | None = None,
    folder: str | None = None,
    tag: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> list[ContentItem]:
    q = select(ContentItem).where(ContentItem.workspace_id == workspace_id, ContentItem.deleted_at.is_(None))
    if kind:
        q = q.where(ContentItem.kind == kind)
    if folder is not None:
        q = q.where(ContentItem.folder == folder)
    if search:
        like = f"%{search}%"
        q = q.where(ContentItem.title.like(like) | ContentItem.text.like(like))
    items = list(session.scalars(q.order_by(ContentItem.uses.desc(), ContentItem.id.desc()).limit(limit * 4)))
    if tag:
        items = [i for i in items if tag in (i.tags or [])]
    return items[:limit]


def folders(session: Session, *, workspace_id: int) -> list[tuple[str, int]]:
    rows = session.execute(
        select(ContentItem.folder, func.count())
        .where(ContentItem.workspace_id == workspace_id, ContentItem.deleted_at.is_(None))
        .group_by(ContentItem.folder)
        .order_by(ContentItem.folder)
    )
    return [(str(f), int(n)) for f, n in rows]


def update_item(
    session: Session,
    *,
    workspace_id: int,
    content_id: int,
    title: str | None = None,
    text: str | None = None,
    folder: str | None = None,
    tags: Sequence[str] | None = None,
    body: Mapping[str, Any] | None = None,
) -> ContentItem:
    item = get_content(session, workspace_id=workspace_id, content_id=content_id)
    if title is not None:
        if not title.strip() or len(title) > 200:
            raise Invalid("a title of 1 to 200 characters is needed", field="title")
        if item.kind == "miniprogram" and len(title.strip().encode()) > MINI_TITLE_MAX_BYTES:
            raise Invalid(
                f"a mini-program title is at most {MINI_TITLE_MAX_BYTES} bytes (UTF-8)", field="title"
            )
        item.title = title.strip()
    if text is not None:
        check_text(text, per_customer=True)
        item.text = text
    if folder is not None:
        if len(folder.strip()) > FOLDER_MAX:
            raise Invalid(f"a folder name is at most {FOLDER_MAX} characters", field="folder")
        item.folder = folder.strip()
    if tags is not None:
        item.tags = [t.strip() for t in tags if t.strip()]
    if body is not None:
        item.body = check_body(item.kind, {**item.body, **body})
        item.media_id = None
        item.media_expires_at = None
    return item


def delete_item(session: Session, *, workspace_id: int, content_id: int) -> ContentItem:
    item = get_content(session, workspace_id=workspace_id, content_id=content_id)
    item.deleted_at = utcnow()
    return item


def item_json(item: ContentItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.title,
        "text": item.text,
        "folder": item.folder,
        "tags": list(item.tags or []),
        "body": {k: v for k, v in (item.body or {}).items() if k != "stored_path"},
        "uses": item.uses,
        "media_id": item.media_id,
        "media_expires_at": item.media_expires_at.isoformat() if item.media_expires_at else None,
        "created_by": item.created_by,
        "created_at": item.created_at.isoformat() if item.created_at else None,
    }
