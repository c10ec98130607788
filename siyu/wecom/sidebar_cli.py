"""``siyu sidebar ...``: setting up the chat sidebar (聊天工具栏) for a workspace.

- ``verify-file FILE``: keep WeCom's domain verification file (``WW_verify_….txt``)
  so that siyu serves it at the root of its domain (可信域名 check);
- ``url``: the page URL to enter in the WeCom admin console, and what must match.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from siyu.kit import audit
from siyu.kit.cli import JsonOpt, WorkspaceOpt, console, fail, workspace_session
from siyu.wecom.settings import resolve_app

app = typer.Typer(help="Set up the chat sidebar (聊天工具栏) in WeCom.", no_args_is_help=True)
VERIFY_NAME = re.compile(r"^WW_verify_[A-Za-z0-9]{1,64}\.txt$")
SETTINGS_KEY = "wecom_verify_files"


@app.command("verify-file")
def verify_file(
    path: Annotated[
        Path, typer.Argument(help="The WW_verify_….txt file downloaded from the WeCom admin console.")
    ],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve WeCom's domain verification file at https://<siyu's domain>/<its name>."""
    if not VERIFY_NAME.match(path.name):
        fail(f"{path.name} is not a WeCom verification file name (WW_verify_<letters and digits>.txt)")
    if not path.is_file():
        fail(f"{path} does not exist")
    content = path.read_text(encoding="utf-8").strip()
    if not content or len(content) > 200 or not content.isalnum():
        fail(
            f"{path.name} does not look like a WeCom verification file (one short line of letters and digits)"
        )
    with workspace_session(workspace) as (session, ws):
        files = dict(ws.settings.get(SETTINGS_KEY) or {})
        files[path.name] = content
        ws.settings = {**ws.settings, SETTINGS_KEY: files}
        audit.record(
            session, workspace_id=ws.id, actor="cli", action="sidebar.verify_file", detail={"name": path.name}
        )
    out = {"name": path.name, "url_path": f"/{path.name}"}
    if as_json:
        console.print_json(json.dumps(out))
    else:
        console.print(escape(f"siyu now serves /{path.name}; click 验证 in the WeCom admin console"))


@app.command("url")
def url_cmd(
    base: Annotated[str, typer.Argument(help="siyu's public https address, e.g. https://scrm.example.com")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The sidebar page URL to enter in WeCom, and the settings it relies on."""
    if not base.startswith("https://"):
        fail("the sidebar must be served over https:// on the app's trusted domain")
    with workspace_session(workspace) as (session, ws):
        cfg = resolve_app(session, ws)
        out = {
            "page_url": f"{base.rstrip('/')}/sidebar/{ws.slug}/",
            "trusted_domain": base.removeprefix("https://").split("/")[0],
            "corp_id": cfg.corp_id,
            "agent_id": cfg.agent_id,
            "problems": [
                p
                for p, bad in (
                    (
                        "no agent id: set the app's AgentId (siyu wecom configure --agent-id ...)",
                        not cfg.agent_id,
                    ),
                    ("no app secret configured", not cfg.secret),
                )
                if bad
            ],
        }
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(escape(f"page URL (聊天工具栏 → 配置页面): {out['page_url']}"))
    console.print(escape(f"trusted domain (可信域名 and 网页授权): {out['trusted_domain']}"))
    for p in out["problems"]:
        console.print(escape(f"problem: {p}"))
