"""Group @-mentions: read from archive text at import, counted by the reply rate.

Hand-computed case (Mon 2 Nov 2026, Asia/Shanghai, working hours 09:00–18:00), group
福利群 with staff 林静 (lin) and 周航 (zhou):

- 10:00 客户A "@林静 面霜怎么用" (U+2005 after the name); 10:05 "@林静 还有一个问题" (same
  conversation: < 30 minutes of silence); lin posts in the group at 10:09 → 9 minutes.
- 10:50 客户A "@林静 谢谢" (45 minutes after her last @): closing words only → exempt.
- 11:00 客户B "@林静 @周航 发货了吗": lin posts in the group at 11:11 → 11 minutes (late);
  zhou answers 客户B 1:1 at 11:05 → 5 minutes.
- 14:00 客户C "@林静" (the name ends the text): lin never posts again, nor writes to 客户C → unanswered.
- 15:00 客户A "@所有人 有人吗" (everyone: no one's conversation) and 16:00 客户C "@小美 你好"
  (小美 is no staff account) → not counted, no mention stored.

lin: 3 conversations, 1 within 10 minutes, 2 answered, 1 unanswered, 1 exempt → 1/3.
zhou: 1 conversation, answered within 10 minutes → 1/1.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import session_scope
from siyu.models import Conversation, Message
from siyu.staff.service import ensure_staff
from siyu.wecom.archive.mentions import MentionIndex, strip_mentions
from tests.conftest import CliRun
from tests.wecom.archive.conftest import T0, Corp, msg, write

M = timedelta(minutes=1)
SP = "\u2005"
ROOM = "wrROOM1"


def _import(cli: CliRun, path: Path) -> dict[str, Any]:
    return json.loads(cli("wecom", "archive", "import", path, "--json").stdout)  # type: ignore[no-any-return]


def _reply(cli: CliRun) -> dict[str, dict[str, Any]]:
    cli("insights", "refresh")
    out = json.loads(cli("insights", "metrics", "--grain", "month", "--on", "2026-11", "--json").stdout)
    return {r["userid"]: r["reply"] for r in out["accounts"]}


def _named(corp: Corp) -> None:
    with session_scope() as s:
        ensure_staff(s, workspace_id=corp.workspace_id, userid="lin", name="林静")
        ensure_staff(s, workspace_id=corp.workspace_id, userid="zhou", name="周航")


def test_group_mentions_hand_computed(cli: CliRun, corp: Corp, session: Session, tmp_path: Path) -> None:
    _named(corp)
    members = ["lin", "zhou", "wmA", "wmB", "wmC"]
    first = [
        msg("g1", "wmA", members, T0, f"@林静{SP}面霜怎么用", roomid=ROOM),
        msg("g1b", "wmA", members, T0 + 5 * M, "@林静 还有一个问题", roomid=ROOM),
        msg("g1c", "wmA", members, T0 + 50 * M, f"@林静{SP}谢谢", roomid=ROOM),
        msg("g2", "wmB", members, T0 + 60 * M, "@林静 @周航 发货了吗", roomid=ROOM),
        msg("g2r", "lin", members, T0 + 71 * M, "今天下午发", roomid=ROOM),
        msg("g3", "wmC", members, T0 + 240 * M, "@林静", roomid=ROOM),
        msg("gall", "wmA", members, T0 + 300 * M, "@所有人 有人吗", roomid=ROOM),
        msg("gnot", "wmC", members, T0 + 360 * M, "@小美 你好", roomid=ROOM),
    ]
    got = _import(cli, write(tmp_path / "a.jsonl", first))
    assert (got["stored"], got["mentions"]) == (8, 5)
    stored = dict(session.execute(select(Message.msgid, Message.mentions)).all())
    lin, zhou = corp.staff["lin"], corp.staff["zhou"]
    assert stored == {
        "g1": [lin],
        "g1b": [lin],
        "g1c": [lin],
        "g2": [lin, zhou],
        "g2r": None,
        "g3": [lin],
        "gall": None,
        "gnot": None,
    }
    # Before the 10:09 post and zhou's 1:1 answer arrive: 客户A's 10:00 @ has no answer
    # before her next conversation (10:50) starts, so only 客户B's is answered (late).
    before = _reply(cli)
    lin_before = before["lin"]
    assert (lin_before["conversations"], lin_before["replied"], lin_before["unanswered"]) == (3, 1, 2)
    assert lin_before["replied_in_target"] == 0
    assert (before["zhou"]["conversations"], before["zhou"]["unanswered"]) == (1, 1)
    # The answers come in a later import: the threads are re-derived.
    later = [
        msg("g1r", "lin", members, T0 + 9 * M, "先薄涂一层", roomid=ROOM),
        msg("z1", "zhou", ["wmB"], T0 + 65 * M, "已经发货了"),
    ]
    _import(cli, write(tmp_path / "b.jsonl", later))
    reply = _reply(cli)
    r = reply["lin"]
    assert r["covered"]
    assert r["source"] == "archive"
    assert (r["conversations"], r["replied"], r["replied_in_target"], r["unanswered"], r["exempt"]) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert r["rate"] == round(1 / 3, 4)
    assert r["avg_min"] == 10.0  # (9 + 11) / 2
    z = reply["zhou"]
    assert (z["conversations"], z["replied_in_target"], z["unanswered"], z["rate"]) == (1, 1, 0, 1.0)
    convs = session.execute(
        select(
            Conversation.staff_id, Conversation.group_id, Conversation.reply_work_s, Conversation.exempt
        ).order_by(Conversation.started_at, Conversation.staff_id)
    ).all()
    assert [(s, g, w, e) for s, g, w, e in convs] == [
        (lin, corp.group_id, 9 * 60, False),
        (lin, corp.group_id, 21 * 60, True),  # the exempt "谢谢" at 10:50, followed by the 11:11 post
        (lin, corp.group_id, 11 * 60, False),
        (zhou, corp.group_id, 5 * 60, False),
        (lin, corp.group_id, None, False),
    ]
    # A rebuild derives the same figures from the stored rows.
    cli("insights", "refresh", "--rebuild")
    assert _reply(cli) == reply


def test_mention_index_reads_names_like_wecom_writes_them() -> None:
    idx = MentionIndex([("王", 1), ("王芳", 2), ("李 雷", 3), ("张伟", 4), ("张伟", 5), ("所有人", 6)])
    assert idx.find(f"@王芳{SP}在吗") == [2]  # the longest name
    assert idx.find("@王 在吗 @王芳") == [1, 2]  # end of text ends a name too
    assert idx.find("@李 雷 你好") == [3]  # a name with a space
    assert idx.find("@王芳芳 你好") == []  # no name followed by a separator
    assert idx.find("@张伟 你好") == []  # two accounts share the name: neither
    assert idx.find("@所有人 开会") == []  # everyone is no one's mention
    assert idx.find("a@王 b @王 @王") == [1]  # each account once
    assert idx.find("没有提到任何人") == []
    assert strip_mentions(f"@林静{SP}谢谢") == "谢谢"
    assert strip_mentions("@林静 @周航 好的") == "好的"


def test_mentions_kept_without_text_and_only_from_customers_in_groups(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path
) -> None:
    _named(corp)
    cli("wecom", "archive", "settings", "--store-text", "none")
    members = ["lin", "zhou", "wmA"]
    lines = [
        msg("a", "wmA", members, T0, "@林静 在吗", roomid=ROOM),  # customer in a group: kept
        msg("b", "zhou", members, T0, "@林静 帮忙回一下", roomid=ROOM),  # staff writing: not a customer's
        msg("c", "wmA", ["lin"], T0, "@林静 在吗"),  # 1:1: no mention
        msg("d", "wmA", members, T0, None, roomid=ROOM, msgtype="image", image={"filesize": 1}),
    ]
    got = _import(cli, write(tmp_path / "a.jsonl", lines))
    assert got["mentions"] == 1
    rows = dict(session.execute(select(Message.msgid, Message.mentions)).all())
    assert rows == {"a": [corp.staff["lin"]], "b": None, "c": None, "d": None}
    assert session.scalars(select(Message.text_enc)).all() == [None] * 4
    lin = _reply(cli)["lin"]
    # a 1:1 conversation (c) and a group @ conversation (a), both unanswered
    assert (lin["conversations"], lin["unanswered"]) == (2, 2)


def _mixed(
    msgid: str, sender: str, to: list[str], at: Any, *items: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    body = msg(msgid, sender, to, at, None, msgtype="mixed", **kw)
    body["mixed"] = {"item": list(items)}
    return body


def test_mixed_messages_keep_their_words_and_mentions(
    cli: CliRun, corp: Corp, session: Session, tmp_path: Path
) -> None:
    """A text-and-picture bubble (msgtype ``mixed``) is read like a text: WeCom gives each
    item's ``content`` as a JSON string; its words are stored and its @-mentions count."""
    from siyu.wecom.archive.parse import ArchiveRecord, parse_record

    _named(corp)
    members = ["lin", "zhou", "wmA", "wmB"]
    image = {"type": "image", "content": json.dumps({"md5sum": "x", "filesize": 13177, "sdkfileid": "CtYB"})}
    asks = {"type": "text", "content": json.dumps({"content": f"@林静{SP}这个色号有吗\n"})}
    decoded = {"type": "text", "content": {"content": "@周航 看图"}}  # an already-decoded item
    lines = [
        _mixed("m1", "wmA", members, T0, asks, image, roomid=ROOM),
        _mixed("m2", "wmB", members, T0 + M, image, roomid=ROOM),  # a picture alone: no words, no mention
        _mixed("m3", "wmB", members, T0 + 2 * M, decoded, roomid=ROOM),
        msg("r1", "lin", members, T0 + 8 * M, "有的", roomid=ROOM),
    ]
    rec = parse_record(lines[0])
    assert isinstance(rec, ArchiveRecord)
    assert rec.text == f"@林静{SP}这个色号有吗"
    got = _import(cli, write(tmp_path / "mixed.jsonl", lines))
    assert (got["stored"], got["mentions"]) == (4, 2)
    stored = dict(session.execute(select(Message.msgid, Message.mentions)).all())
    assert stored == {"m1": [corp.staff["lin"]], "m2": None, "m3": [corp.staff["zhou"]], "r1": None}
    texts = {m.msgid: m.text_enc is not None for m in session.scalars(select(Message))}
    assert texts == {"m1": True, "m2": False, "m3": True, "r1": True}
    reply = _reply(cli)
    assert (reply["lin"]["conversations"], reply["lin"]["replied_in_target"]) == (1, 1)
    assert (reply["zhou"]["conversations"], reply["zhou"]["unanswered"]) == (1, 1)
