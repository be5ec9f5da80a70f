import Testing

@testable import ChatCore

@Suite struct SanitizeTests {
    @Test(
        arguments: [
            (nil, "guest"), ("masa", "masa"), ("  masa  ", "masa"), ("a b-c_d", "a b-c_d"),
            ("<img src=x>", "guest"), ("", "guest"), ("名字", "guest"),
            ("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwx"),
        ] as [(String?, String)])
    func names(raw: String?, expected: String) {
        #expect(Sanitize.name(raw) == expected)
    }

    @Test(
        arguments: [
            (nil, "lobby"), ("room-1", "room-1"), ("a b", "lobby"), ("../etc", "lobby"), ("", "lobby"),
            (String(repeating: "r", count: 40), String(repeating: "r", count: 32)),
        ] as [(String?, String)])
    func rooms(raw: String?, expected: String) {
        #expect(Sanitize.room(raw) == expected)
    }

    @Test func roomFallbackIsConfigurable() {
        #expect(Sanitize.room("bad room", fallback: "general") == "general")
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesQuotesBackslashesAndControls() {
        var w = JSONWriter()
        w.beginObject()
        w.field("t", "a\"b\\c\nd\u{01}e</script>é")
        w.field("n", 3)
        w.field("b", true)
        w.endObject()
        #expect(w.string == #"{"t":"a\"b\\c\nd\u0001e</script>é","n":3,"b":true}"#)
    }

    @Test func nestedArraysAndObjects() {
        var w = JSONWriter()
        w.beginObject()
        w.key("a")
        w.beginArray()
        w.value(1)
        w.beginObject()
        w.field("x", "y")
        w.endObject()
        w.endArray()
        w.endObject()
        #expect(w.string == #"{"a":[1,{"x":"y"}]}"#)
    }

    @Test func eventsHaveTheArticlesShape() {
        let m = ChatMessage(id: "i", seq: 7, room: "lobby", from: "masa", text: "hi", sentAt: "2026-01-01T00:00:00.000Z")
        #expect(
            ServerEvent.message(m).json
                == #"{"type":"message","message":{"id":"i","seq":7,"room":"lobby","from":"masa","text":"hi","sentAt":"2026-01-01T00:00:00.000Z"}}"#
        )
        #expect(
            ServerEvent.presence(room: "lobby", message: "masa joined", online: 2).json
                == #"{"type":"presence","room":"lobby","message":"masa joined","online":2}"#)
        #expect(ServerEvent.error(code: .empty, message: "x").json == #"{"type":"error","code":"empty","message":"x"}"#)
        #expect(ServerEvent.history(room: "lobby", messages: []).json == #"{"type":"history","room":"lobby","messages":[]}"#)
        #expect(ServerEvent.left(room: "ops", reason: "forbidden").json == #"{"type":"left","room":"ops","reason":"forbidden"}"#)
    }

    @Test func anErrorRepeatsTheNonceOfTheRequestItAnswers() {
        let refused = ServerEvent.error(code: .notFound, message: "x")
        #expect(refused.answering("n1").json == #"{"type":"error","code":"not_found","message":"x","nonce":"n1"}"#)
        #expect(refused.answering(nil).json == refused.json)
        // An error that names its own nonce, or another event, is left as it is.
        #expect(ServerEvent.error(code: .empty, message: "x", nonce: "a").answering("b").json.contains(#""nonce":"a""#))
        #expect(ServerEvent.pong.answering("n1").json == #"{"type":"pong"}"#)
        #expect(
            ServerEvent.sent(room: "lobby", nonce: "n1", seq: 9, id: "i").json
                == #"{"type":"sent","room":"lobby","nonce":"n1","seq":9,"id":"i"}"#)
    }

    @Test func anyRequestMayCarryANonce() {
        func nonce(_ json: String) -> String? { ClientCommand.decodeRequest(Array(json.utf8), maxChars: 500).nonce }
        #expect(nonce(#"{"type":"edit","seq":3,"text":"t","nonce":"e-1"}"#) == "e-1")
        #expect(nonce(#"{"type":"nonsense","nonce":"e-2"}"#) == "e-2")
        #expect(nonce(#"{"type":"edit","seq":0,"nonce":"e-3"}"#) == "e-3")
        #expect(nonce(#"{"type":"edit","seq":3,"text":"t","nonce":7}"#) == nil)
        #expect(nonce(#"{"type":"ping","nonce":""}"#) == nil)
        #expect(nonce(#"["nonce"]"#) == nil)
        // On a message a malformed nonce is still `bad_field`.
        let bad = ClientCommand.decodeRequest(Array(#"{"type":"message","text":"t","nonce":""}"#.utf8), maxChars: 500)
        #expect(bad.command == .failure(.badField) && bad.nonce == nil)
    }
}

@Suite struct TimestampTests {
    @Test func formatsLikeToISOString() {
        #expect(Timestamp.iso8601(millisecondsSinceEpoch: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(millisecondsSinceEpoch: 1_795_713_792_042) == "2026-11-26T17:23:12.042Z")
        #expect(Timestamp.iso8601(millisecondsSinceEpoch: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.iso8601(millisecondsSinceEpoch: -1) == "1969-12-31T23:59:59.999Z")
    }
}

@Suite struct VisibleTextTests {
    @Test func bidiAndControlsAreRemoved() {
        #expect(Sanitize.visibleText("abc\u{202E}dcba\u{07}\u{2066}x\u{2069}\nline\tend") == "abcdcbax\nline\tend")
        #expect(Sanitize.visibleText("plain 字 😀") == "plain 字 😀")
    }
}
