# ruff: noqa: E501  (child processes by design; long literal code reads better unwrapped)
"""Archive import: ``siyu wecom archive import`` vs SQLite loading the same rows itself.

Run: ``.venv/bin/python bench/bench_archive.py`` (``--messages N --friends N --accounts N``;
defaults are a scaled-down run for a shared machine), or ``make bench`` (a small run).

Setup (not timed): a migrated SQLite database with one workspace, ``--accounts`` staff
accounts and ``--friends`` customers known by their ``external_userid`` (OneID), and an
archive export of ``--messages`` lines as the Finance SDK yields them once decrypted:
1:1 chats (customers write, staff answer), text bodies.

Each contender runs in a child process of its own, so its peak RSS (``VmHWM``) is
its own:

- **siyu**: ``siyu.wecom.archive.service.import_file`` on the file: parse and check
  each line, dedup by msgid, link staff / customer through OneID, encrypt the text with
  the vault, insert, move ``last_interaction_at``; one commit per batch;
- **SQLite, same rows**: Python's ``sqlite3`` reading the same file (``json.loads``)
  and ``executemany`` into an identical ``messages`` table in a fresh database, one
  commit per batch of the same size, no linking and no encryption (the floor any
  loader pays), then ``INSERT … SELECT`` of those rows into a second table (SQLite
  copying its own rows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 9, 1, tzinfo=UTC)

SIYU_SIDE = """
import json, resource, sys, time

def hwm():
    # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's pre-exec size)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from siyu.kit.db import session_factory
from siyu.wecom.archive.service import import_file
from pathlib import Path
t = time.perf_counter(); c = time.process_time()
r = import_file(session_factory(), workspace_id=1, path=Path(sys.argv[1]), actor="bench")
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "stored": r.stored,
                  "moved": r.interactions_moved, "rss_kb": hwm()}))
"""

SQLITE_SIDE = """
import json, resource, sqlite3, sys, time

def hwm():
    # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's pre-exec size)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
src, db, schema, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
con = sqlite3.connect(db)
con.executescript(schema)
t = time.perf_counter(); c = time.process_time()
rows = []
n = 0
def flush():
    con.executemany("INSERT INTO messages (workspace_id, source, msgid, direction, sender, msgtype, sent_at, text_enc)"
                    " VALUES (1, 'archive', ?, 'in', ?, ?, ?, ?)", rows)
    con.commit(); rows.clear()
with open(src, 'rb') as fh:
    for line in fh:
        m = json.loads(line)
        rows.append((m["msgid"], m["from"], m["msgtype"], str(m["msgtime"]), m.get("text", {}).get("content")))
        n += 1
        if len(rows) >= batch:
            flush()
flush()
load = time.perf_counter() - t
t2 = time.perf_counter()
con.execute("CREATE TABLE copy AS SELECT * FROM messages WHERE 0")
con.execute("INSERT INTO copy SELECT * FROM messages"); con.commit()
print(json.dumps({"seconds": load, "cpu": time.process_time() - c, "stored": n, "copy_seconds": time.perf_counter() - t2,
                  "rss_kb": hwm()}))
"""


def setup(folder: Path, *, messages: int, friends: int, accounts: int, seed: int = 1) -> dict[str, Any]:
    """The database (staff, customers with OneID identities) and the archive file."""
    from sqlalchemy import insert, select

    from siyu.kit.db import make_engine
    from siyu.kit.migrate import upgrade
    from siyu.kit.pii import get_vault
    from siyu.models import Customer, CustomerIdentity, Staff, Workspace

    url = os.environ["SIYU_DATABASE_URL"]
    upgrade(url)
    engine = make_engine(url)
    vault = get_vault()
    staff = [f"guide{i:03d}" for i in range(accounts)]
    exts = [f"wm{i:030d}" for i in range(friends)]
    with engine.begin() as con:
        con.execute(insert(Workspace), [{"slug": "default", "name": "bench", "settings": {}}])
        con.execute(insert(Staff), [{"workspace_id": 1, "userid": u, "name": u} for u in staff])
        con.execute(insert(Customer), [{"workspace_id": 1, "name": None} for _ in exts])
        ids = list(con.execute(select(Customer.id).order_by(Customer.id)).scalars())
        con.execute(
            insert(CustomerIdentity),
            [
                {
                    "workspace_id": 1,
                    "customer_id": cid,
                    "kind": "external_userid",
                    "platform": "",
                    "value_hash": vault.identity_hash("external_userid", e),
                    "source": "bench",
                }
                for cid, e in zip(ids, exts, strict=True)
            ],
        )
    rng = random.Random(seed)
    path = folder / "archive.jsonl"
    span = 60 * 86400
    with path.open("w") as fh:
        for i in range(messages):
            f = rng.randrange(friends)
            ext, userid = exts[f], staff[f % accounts]
            inbound = rng.random() < 0.55
            at = T0 + timedelta(seconds=span * i / messages)
            fh.write(
                json.dumps(
                    {
                        "msgid": f"bench{seed}_{i}",
                        "action": "send",
                        "from": ext if inbound else userid,
                        "tolist": [userid if inbound else ext],
                        "roomid": "",
                        "msgtime": int(at.timestamp() * 1000),
                        "msgtype": "text",
                        "text": {"content": rng.choice(("在吗", "好的谢谢", "这款面霜怎么用？", "已发货"))},
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return {"file": path, "bytes": path.stat().st_size}


def _child(code: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(messages: int, friends: int, accounts: int) -> dict[str, Any]:
    from siyu.wecom.archive.importer import BATCH

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["SIYU_DATABASE_URL"] = f"sqlite:///{folder / 'siyu.db'}"
        t = time.perf_counter()
        info = setup(folder, messages=messages, friends=friends, accounts=accounts)
        setup_s = time.perf_counter() - t
        schema = (
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, source VARCHAR(16) NOT NULL,"
            " msgid VARCHAR(128) NOT NULL, direction VARCHAR(8) NOT NULL, staff_id INTEGER, customer_id INTEGER,"
            " group_id INTEGER, sender VARCHAR(128) NOT NULL, msgtype VARCHAR(32) NOT NULL, sent_at VARCHAR(32) NOT NULL,"
            " text_enc TEXT, payload TEXT, revoked_at VARCHAR(32), created_at VARCHAR(32),"
            " UNIQUE (workspace_id, source, msgid));"
            "CREATE INDEX ix1 ON messages (workspace_id, sent_at); CREATE INDEX ix2 ON messages (customer_id, sent_at);"
            "CREATE INDEX ix3 ON messages (staff_id, sent_at); CREATE INDEX ix4 ON messages (group_id);"
        )
        siyu = _child(SIYU_SIDE, str(info["file"]))
        peer = _child(SQLITE_SIDE, str(info["file"]), str(folder / "peer.db"), schema, str(BATCH))
    return {
        "messages": messages,
        "friends": friends,
        "accounts": accounts,
        "file_mb": info["bytes"] / 2**20,
        "setup_s": setup_s,
        "siyu": siyu,
        "sqlite": peer,
        "load": os.getloadavg(),
    }


def report(r: dict[str, Any]) -> str:
    s, p = r["siyu"], r["sqlite"]
    return "\n".join(
        [
            f"{r['messages']:,} messages, {r['accounts']} accounts, {r['friends']:,} friends ({r['file_mb']:.1f} MB file)",
            f"siyu archive import: {s['seconds']:.2f} s, {s['stored'] / s['seconds']:,.0f} messages/s, "
            f"CPU {s['cpu']:.2f} s ({s['stored'] / s['cpu']:,.0f} messages per CPU second), "
            f"peak RSS {s['rss_kb'] / 1024:.0f} MB ({s['moved']:,} customers' last interaction moved)",
            f"SQLite, same rows (json.loads + executemany): {p['seconds']:.2f} s, "
            f"{p['stored'] / p['seconds']:,.0f} messages/s, CPU {p['cpu']:.2f} s "
            f"({p['stored'] / p['cpu']:,.0f} messages per CPU second), peak RSS {p['rss_kb'] / 1024:.0f} MB",
            f"SQLite copying its own rows (INSERT … SELECT): {p['copy_seconds']:.2f} s, "
            f"{p['stored'] / max(p['copy_seconds'], 1e-9):,.0f} rows/s",
            f"load average at the end: {r['load'][0]:.2f}",
        ]
    )


@pytest.mark.bench
def test_bench_archive_small() -> None:
    r = run(messages=50_000, friends=5_000, accounts=200)
    print("\n" + report(r))
    assert r["siyu"]["stored"] == r["sqlite"]["stored"] == 50_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--friends", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=200)
    a = ap.parse_args()
    print(report(run(a.messages, a.friends, a.accounts)))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
