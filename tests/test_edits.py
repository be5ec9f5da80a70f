"""Edits (issue 17, item 1): an author edits their own message within
`moderation.author_edit_seconds`, a moderator any; every member gets `edited`; history
shows the current text with `editedAt`; an edit is an entry of the room's log, so a client
that resumes from before it gets it (`edits`) and ends with what a fresh joiner sees; the
audit log records a moderator's edit. The shipped config, a real SQLite file, restarts."""
import json

from websockets.sync.client import connect

from conftest import chatctl, free_port, shipped_config
from wsclient import open_ws, until


def texts(history):
    """A history's messages as {seq: (text, editedAt)}, its edits applied (what a client shows)."""
    shown = {m["seq"]: (m["text"], m.get("editedAt")) for m in history["messages"]}
    return shown, history.get("edits", [])


def test_an_edit_reaches_every_member_and_history_shows_it_across_a_restart(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob") as bob:
        until(ann, "history")
        until(bob, "history")
        ann.send(json.dumps({"type": "message", "text": "helo"}))
        sent = until(bob, "message")["message"]
        until(ann, "message")
        ann.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": " hello "}))
        for ws in (ann, bob):
            edited = until(ws, "edited")
            assert (edited["room"], edited["seq"], edited["id"], edited["text"], edited["by"]) == (
                "lobby", sent["seq"], sent["id"], "hello", "ann")
            assert edited["at"] > sent["seq"] and edited["editedAt"] >= sent["sentAt"]
        # Another's message, a message that is not there, an edit's own number, a bad text.
        bob.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "mine now"}))
        assert until(bob, "error")["code"] == "forbidden"
        ann.send(json.dumps({"type": "edit", "seq": 99999, "text": "x"}))
        assert until(ann, "error")["code"] == "not_found"
        ann.send(json.dumps({"type": "edit", "seq": edited["at"], "text": "x"}))
        assert until(ann, "error")["code"] == "not_found"
        ann.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "   "}))
        assert until(ann, "error")["code"] == "empty"
        # The edit took a number: the next message has the one after it.
        ann.send(json.dumps({"type": "message", "text": "next"}))
        assert until(bob, "message")["message"]["seq"] == edited["at"] + 1
    chatd.stop()
    chatd.start()
    with open_ws(port, "token=dev-token&name=late") as late:
        history = until(late, "history")
        shown, edits = texts(history)
        assert shown[sent["seq"]] == ("hello", edited["editedAt"])
        assert edited["at"] not in shown and edits == []


def test_authors_may_not_edit_when_the_window_is_zero_and_moderators_always_may(chatd_factory, tmp_path):
    port = free_port()
    control = tmp_path / "control.sock"
    chatd_factory(shipped_config(
        port, control_socket=control,
        overrides={"moderation.author_edit_seconds": 0, "auth.moderator_tokens": ["mod-token"]})).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=mod-token&name=mia") as mia:
        until(ann, "history")
        until(mia, "history")
        ann.send(json.dumps({"type": "message", "text": "sp4m"}))
        sent = until(ann, "message")["message"]
        ann.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "spam"}))
        assert until(ann, "error")["code"] == "forbidden"
        mia.send(json.dumps({"type": "edit", "seq": sent["seq"], "text": "[removed link]"}))
        edited = until(ann, "edited")
        assert (edited["text"], edited["by"]) == ("[removed link]", "mia")
        # The text it replaced is kept for moderators: on their connection, and for operators.
        mia.send(json.dumps({"type": "versions", "seq": sent["seq"]}))
        versions = until(mia, "versions")
        assert (versions["seq"], [(v["text"], v["replacedBy"]) for v in versions["versions"]]) == (sent["seq"], [("sp4m", "mia")])
        ann.send(json.dumps({"type": "versions", "seq": sent["seq"]}))
        assert until(ann, "error")["code"] == "forbidden"
    listed = chatctl("versions", "lobby", str(sent["seq"]), socket_path=control)
    assert listed.returncode == 0 and "sp4m" in listed.stdout and "mia" in listed.stdout, listed.stderr
    audit = chatctl("audit", "--json", socket_path=control)
    assert audit.returncode == 0, audit.stderr
    flat = json.dumps(json.loads(audit.stdout))
    assert '"edit"' in flat and f"lobby#{sent['seq']} by ann" in flat and "mia" in flat


def test_a_resume_from_before_edits_ends_with_what_a_fresh_joiner_sees(chatd_factory):
    """Edits made while a client was away reach it when it resumes from `since` (at the
    upgrade, and with `history` `since` in band): its view equals a fresh joiner's."""
    port = free_port()
    chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann:
        until(ann, "history")
        sent = []
        for text in ("one", "two", "three"):
            ann.send(json.dumps({"type": "message", "text": text}))
            sent.append(until(ann, "message")["message"])
        seen = sent[-1]["seq"]  # a client that saw all three, then left
        ann.send(json.dumps({"type": "edit", "seq": sent[0]["seq"], "text": "one (edited)"}))
        until(ann, "edited")
        ann.send(json.dumps({"type": "message", "text": "four"}))
        four = until(ann, "message")["message"]
        ann.send(json.dumps({"type": "edit", "seq": four["seq"], "text": "four (edited)"}))
        until(ann, "edited")
        ann.send(json.dumps({"type": "edit", "seq": sent[0]["seq"], "text": "one (again)"}))
        until(ann, "edited")

    def view(history, before):
        """`before` (what the client had) with a resume applied."""
        shown = dict(before)
        shown.update({m["seq"]: m["text"] for m in history["messages"]})
        for edit in history.get("edits", []):
            if edit["seq"] in shown:
                shown[edit["seq"]] = edit["text"]
        return shown

    had = {m["seq"]: m["text"] for m in sent}
    with open_ws(port, "token=dev-token&name=fresh") as fresh:
        current = {m["seq"]: m["text"] for m in until(fresh, "history")["messages"]}
    with open_ws(port, f"token=dev-token&name=back&since={seen}") as back:
        resumed = until(back, "history")
        assert resumed["recovered"] is True
        assert [m["text"] for m in resumed["messages"]] == ["four (edited)"]
        assert [e["text"] for e in resumed["edits"]] == ["one (edited)", "one (again)"]
        assert view(resumed, had) == current
        back.send(json.dumps({"type": "history", "since": seen}))
        assert view(until(back, "history"), had) == current
    assert current[sent[0]["seq"]] == "one (again)"


def test_changes_racing_a_delete_leave_nothing_of_the_message(chatd_factory):
    """Found by review: an edit or a reaction asked for before a delete and stored after it
    kept the edit's text in the store and was sent after `deleted`. Here they are sent at
    once, many times: after a message's `deleted`, nothing of it is sent, and no resume or
    store holds its text."""
    import sqlite3
    port = free_port()
    chatd = chatd_factory(shipped_config(port, overrides={
        "auth.moderator_tokens": ["mod-token"], "limits.rate_messages": 10000, "limits.user_rate_messages": 10000,
        "limits.ip_rate_messages": 10000})).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=mod-token&name=mia") as mia, \
            open_ws(port, "token=dev-token&name=watch") as watch:
        for ws in (ann, mia, watch):
            until(ws, "history")
        for trial in range(30):
            ann.send(json.dumps({"type": "message", "text": f"t{trial}"}))
            seq = until(ann, "message")["message"]["seq"]
            for k in range(3):
                ann.send(json.dumps({"type": "edit", "seq": seq, "text": f"t{trial} secret {k}"}))
            mia.send(json.dumps({"type": "delete", "seq": seq}))
            ann.send(json.dumps({"type": "react", "seq": seq, "emoji": "👍"}))
            ann.send(json.dumps({"type": "message", "text": f"end {trial}"}))
            after_delete = None
            while True:
                event = json.loads(watch.recv(timeout=10))
                if event["type"] == "message" and event["message"]["text"] == f"end {trial}":
                    break
                if event.get("seq") != seq:
                    continue
                if event["type"] == "deleted":
                    after_delete = after_delete or []
                elif after_delete is not None:
                    after_delete.append(event)
            assert after_delete is not None and all(e["type"] == "deleted" for e in after_delete), (trial, after_delete)
    with sqlite3.connect(f"file:{chatd.dir / 'history.sqlite'}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM message WHERE text LIKE '%secret%'").fetchone() == (0,)
