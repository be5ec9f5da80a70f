"""Reactions (issue 17, item 2): `react`/`unreact` with one emoji; every member gets
`reactions` with the message's counts; each reader counts once; history carries the counts
and, for the reader, its own (`mine`); a message has at most
`limits.max_reactions_per_message` different emoji; a client that resumes from before a
change ends with a fresh joiner's counts. The shipped config, a real SQLite file, restarts."""
import json

from conftest import free_port, shipped_config
from wsclient import open_ws, until


def react(ws, seq, emoji, added=True):
    ws.send(json.dumps({"type": "react" if added else "unreact", "seq": seq, "emoji": emoji}))


def test_reactions_are_counted_once_per_reader_and_history_shows_them_across_a_restart(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port, overrides={"limits.max_reactions_per_message": 2})).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob") as bob:
        until(ann, "history")
        until(bob, "history")
        ann.send(json.dumps({"type": "message", "text": "ship it?"}))
        sent = until(bob, "message")["message"]
        react(bob, sent["seq"], "👍")
        for ws in (ann, bob):
            event = until(ws, "reactions")
            assert (event["seq"], event["id"], event["counts"], event["emoji"], event["added"], event["by"]) == (
                sent["seq"], sent["id"], {"👍": 1}, "👍", True, "bob")
        react(bob, sent["seq"], "👍")  # again: still one
        assert [until(ws, "reactions")["counts"] for ws in (ann, bob)] == [{"👍": 1}] * 2
        react(ann, sent["seq"], "👍")
        assert [until(ws, "reactions")["counts"] for ws in (ann, bob)] == [{"👍": 2}] * 2
        react(ann, sent["seq"], "🎉")
        assert [until(ws, "reactions")["counts"] for ws in (ann, bob)] == [{"👍": 2, "🎉": 1}] * 2
        react(bob, sent["seq"], "🚀")  # a third kind, over the limit of 2
        assert until(bob, "error")["code"] == "too_many_reactions"
        react(bob, sent["seq"], "x")
        assert until(bob, "error")["code"] == "bad_field"
        react(bob, 99999, "👍")
        assert until(bob, "error")["code"] == "not_found"
        react(ann, sent["seq"], "🎉", added=False)
        last = until(bob, "reactions")
        assert (last["counts"], last["added"]) == ({"👍": 2}, False)
        ann.send(json.dumps({"type": "message", "text": "next"}))
        assert until(bob, "message")["message"]["seq"] == last["at"] + 1
    chatd.stop()
    chatd.start()
    for who, mine in (("bob", ["👍"]), ("zed", None)):
        with open_ws(port, f"token=dev-token&name={who}") as ws:
            shown = {m["seq"]: m for m in until(ws, "history")["messages"]}
            assert shown[sent["seq"]]["reactions"] == {"👍": 2}
            assert shown[sent["seq"]].get("mine") == mine
            ws.send(json.dumps({"type": "history", "limit": 50}))
            page = {m["seq"]: m for m in until(ws, "history")["messages"]}
            assert page[sent["seq"]].get("mine") == mine


def test_a_resume_from_before_reactions_ends_with_a_fresh_joiners_counts(chatd_factory):
    port = free_port()
    chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob") as bob:
        until(ann, "history")
        until(bob, "history")
        ann.send(json.dumps({"type": "message", "text": "one"}))
        one = until(ann, "message")["message"]
        seen = one["seq"]  # a client that saw it, then left
        for who, emoji in ((ann, "👍"), (bob, "👍"), (bob, "🎉")):
            react(who, one["seq"], emoji)
            until(ann, "reactions")
        react(bob, one["seq"], "👍", added=False)
        until(ann, "reactions")
    with open_ws(port, "token=dev-token&name=fresh") as fresh:
        current = {m["seq"]: m.get("reactions", {}) for m in until(fresh, "history")["messages"]}
    with open_ws(port, f"token=dev-token&name=back&since={seen}") as back:
        resumed = until(back, "history")
        assert resumed["recovered"] is True and resumed["messages"] == []
        view = {one["seq"]: {}}
        for change in resumed["reactions"]:
            view[change["seq"]] = change["counts"]
        assert view == current == {one["seq"]: {"👍": 1, "🎉": 1}}


def test_a_flood_of_reaction_changes_leaves_joiners_their_messages_across_a_restart(chatd_factory):
    """Found by review: 200 reaction changes (10 guests, 20 each, within the shipped rate
    limits) left new joiners a welcome with no message, before and after a restart."""
    port = free_port()
    chatd = chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann:
        until(ann, "history")
        for text in ("one", "two", "three"):
            ann.send(json.dumps({"type": "message", "text": text}))
            until(ann, "message")
        first = until(open_ws(port, "token=dev-token&name=peek"), "history")["messages"][0]["seq"]
        for i in range(10):
            with open_ws(port, f"token=dev-token&name=g{i}") as g:
                until(g, "history")
                for k in range(20):
                    react(g, first, "🎉", added=k % 2 == 0)
                    until(g, "reactions")
    for restart in (False, True):
        if restart:
            chatd.stop()
            chatd.start()
        with open_ws(port, "token=dev-token&name=late") as late:
            assert [m["text"] for m in until(late, "history")["messages"]] == ["one", "two", "three"], restart
