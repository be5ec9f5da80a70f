"""Replies (issue 17, item 3): a message may carry `"replyTo": SEQ`; every member receives
it with the message, history and resumes carry it, and it survives a restart."""
import json

from conftest import free_port, shipped_config
from wsclient import open_ws, until


def test_a_reply_reaches_everyone_and_stays_in_history_across_a_restart(chatd_factory):
    port = free_port()
    chatd = chatd_factory(shipped_config(port)).start()
    with open_ws(port, "token=dev-token&name=ann") as ann, open_ws(port, "token=dev-token&name=bob") as bob:
        until(ann, "history")
        until(bob, "history")
        ann.send(json.dumps({"type": "message", "text": "lunch?"}))
        asked = until(bob, "message")["message"]
        assert "replyTo" not in asked
        bob.send(json.dumps({"type": "message", "text": "yes", "replyTo": asked["seq"]}))
        assert until(ann, "message")["message"]["text"] == "lunch?"  # her own, first
        answer = until(ann, "message")["message"]
        assert (answer["text"], answer["replyTo"]) == ("yes", asked["seq"])
        bob.send(json.dumps({"type": "message", "text": "no", "replyTo": "1"}))
        assert until(bob, "error")["code"] == "bad_field"
    chatd.stop()
    chatd.start()
    with open_ws(port, "token=dev-token&name=late") as late:
        messages = until(late, "history")["messages"]
        assert [(m["text"], m.get("replyTo")) for m in messages[-2:]] == [("lunch?", None), ("yes", asked["seq"])]
    with open_ws(port, f"token=dev-token&name=back&since={asked['seq']}") as back:
        resumed = until(back, "history")
        assert [m.get("replyTo") for m in resumed["messages"]] == [asked["seq"]]
