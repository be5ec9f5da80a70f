import Testing

@testable import ChatCore

@Suite struct TokenBucketTests {
    let second: UInt64 = 1_000_000_000

    @Test func allowsTheBurstThenRefusesThenRefills() {
        var bucket = TokenBucket(capacity: 20, windowNanoseconds: 10 * second, now: 0)
        for _ in 0..<20 {
            do {
                let ok = bucket.consume(now: 0)
                #expect(ok)
            }
        }
        do {
            let ok = bucket.consume(now: 0)
            #expect(!ok)
        }
        // 20 per 10 s refills one token every 0.5 s.
        do {
            let ok = bucket.consume(now: second / 4)
            #expect(!ok)
        }
        do {
            let ok = bucket.consume(now: second / 2)
            #expect(ok)
        }
        do {
            let ok = bucket.consume(now: second / 2)
            #expect(!ok)
        }
        // A long pause refills to capacity, never beyond.
        let later = 100 * second
        for _ in 0..<20 {
            do {
                let ok = bucket.consume(now: later)
                #expect(ok)
            }
        }
        do {
            let ok = bucket.consume(now: later)
            #expect(!ok)
        }
    }

    @Test func reconfigureDoesNotGrantAFreshBurst() {
        var bucket = TokenBucket(capacity: 5, windowNanoseconds: second, now: 0)
        for _ in 0..<5 { _ = bucket.consume(now: 0) }
        bucket.reconfigure(capacity: 50, windowNanoseconds: 10 * second, now: 0)
        do {
            let ok = bucket.consume(now: 0)
            #expect(!ok)
        }
    }
}

@Suite struct HistoryWindowTests {
    func message(_ n: Int) -> ChatMessage {
        ChatMessage(id: "\(n)", seq: UInt64(n), room: "r", from: "f", text: "t\(n)", sentAt: "")
    }

    @Test func keepsTheLastNInOrder() {
        var window = HistoryWindow(limit: 3)
        for n in 1...7 { window.append(message(n)) }
        #expect(window.messages.map(\.seq) == [5, 6, 7])
    }

    @Test func zeroKeepsNothing() {
        var window = HistoryWindow(limit: 0)
        window.append(message(1))
        #expect(window.messages.isEmpty)
    }

    @Test func resizeKeepsTheNewest() {
        var window = HistoryWindow(limit: 5)
        for n in 1...5 { window.append(message(n)) }
        window.resize(to: 2)
        #expect(window.messages.map(\.seq) == [4, 5])
        window.append(message(6))
        #expect(window.messages.map(\.seq) == [5, 6])
    }
}

@Suite struct ClientCommandTests {
    func decode(_ s: String, max: Int = 500) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(s.utf8), maxChars: max)
    }

    @Test func message() {
        #expect(decode(#"{"type":"message","text":"  hi  "}"#) == .success(.message(text: "hi", room: nil)))
    }

    @Test(arguments: [
        ("not json", ErrorCode.badJSON), ("{", .badJSON), ("", .badJSON),
        ("null", .badType), ("42", .badType), ("[]", .badType), (#"{"text":"x"}"#, .badType),
        (#"{"type":"shout","text":"x"}"#, .badType), (#"{"type":7}"#, .badType),
        (#"{"type":"message"}"#, .empty), (#"{"type":"message","text":"   "}"#, .empty),
        (#"{"type":"message","text":null}"#, .empty), (#"{"type":"message","text":5}"#, .badField),
        (#"{"type":"message","text":{"a":1}}"#, .badField),
    ])
    func errors(input: String, code: ErrorCode) {
        #expect(decode(input) == .failure(code))
    }

    @Test func lengthCountsUTF16UnitsLikeTheBrowser() {
        #expect(
            decode(#"{"type":"message","text":"\#(String(repeating: "字", count: 500))"}"#)
                == .success(.message(text: String(repeating: "字", count: 500), room: nil)))
        #expect(decode(#"{"type":"message","text":"\#(String(repeating: "a", count: 501))"}"#) == .failure(.tooLarge))
        // An emoji is two UTF-16 units, as in JavaScript.
        #expect(decode(#"{"type":"message","text":"\#(String(repeating: "😀", count: 251))"}"#) == .failure(.tooLarge))
    }

    @Test func ping() {
        #expect(decode(#"{"type":"ping"}"#) == .success(.ping))
    }

    @Test func roomsAreNamedPerCommand() {
        #expect(decode(#"{"type":"join","room":"team-a"}"#) == .success(.join(room: "team-a", since: nil)))
        #expect(decode(#"{"type":"join","room":"team-a","since":7}"#) == .success(.join(room: "team-a", since: 7)))
        #expect(decode(#"{"type":"leave","room":"team-a"}"#) == .success(.leave(room: "team-a")))
        #expect(decode(#"{"type":"message","text":"x","room":"b"}"#) == .success(.message(text: "x", room: "b")))
        #expect(decode(#"{"type":"delete","seq":3,"room":"b"}"#) == .success(.delete(seq: 3, room: "b")))
        #expect(decode(#"{"type":"history","before":9,"room":"b"}"#) == .success(.history(before: 9, limit: 50, room: "b")))
        #expect(decode(#"{"type":"history","since":9,"room":"b"}"#) == .success(.catchUp(since: 9, room: "b")))
    }

    @Test(arguments: [
        #"{"type":"join"}"#, #"{"type":"join","room":""}"#, #"{"type":"join","room":"a b"}"#,
        #"{"type":"join","room":7}"#, #"{"type":"leave","room":null}"#, #"{"type":"join","room":"x","since":-1}"#,
        #"{"type":"message","text":"x","room":"‮"}"#, #"{"type":"join","room":"\#(String(repeating: "r", count: 33))"}"#,
    ])
    func badRoomsAreBadFields(input: String) {
        #expect(decode(input) == .failure(.badField))
    }
}

@Suite struct MessageNonceTests {
    func decode(_ s: String) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(s.utf8), maxChars: 500)
    }

    @Test func aNonceIsDecodedWithItsMessage() {
        #expect(decode(#"{"type":"message","text":"hi","nonce":"abc-1"}"#) == .success(.message(text: "hi", room: nil, nonce: "abc-1")))
        #expect(decode(#"{"type":"message","text":"hi","nonce":null}"#) == .success(.message(text: "hi", room: nil)))
        let longest = String(repeating: "n", count: MessageNonce.maxClientLength)
        #expect(
            decode(#"{"type":"message","text":"hi","room":"b","nonce":"\#(longest)"}"#)
                == .success(.message(text: "hi", room: "b", nonce: longest)))
    }

    @Test func aBadNonceIsABadField() {
        let tooLong = String(repeating: "n", count: MessageNonce.maxClientLength + 1)
        for nonce in [#""\#(tooLong)""#, #""""#, "42", "true", #"["a"]"#, #""tab\there""#, #""é""#] {
            #expect(decode(#"{"type":"message","text":"hi","nonce":\#(nonce)}"#) == .failure(.badField), "\(nonce)")
        }
    }

    @Test func thePlanCarriesTheNonce() {
        #expect(
            CommandPlanTests.plan(.message(text: "hi", room: nil, nonce: "n"))
                == .publish(room: "lobby", text: "hi", nonce: "n"))
    }

    @Test func theLedgerHoldsARacingResendUntilTheFirstIsDone() {
        var ledger = MessageNonce.Ledger<Int>()
        let key = MessageNonce.Key(author: "user:masa", nonce: "n")
        // Not read yet: read the store first.
        #expect(ledger.admit(key, checked: nil, waiter: 1) == .check(generation: 0))
        #expect(ledger.admit(key, checked: 0, waiter: 1) == .claimed)
        #expect(ledger.admit(key, checked: 0, waiter: 2) == .waiting)
        #expect(ledger.admit(key, checked: nil, waiter: 3) == .waiting)
        #expect(ledger.release(key) == [2, 3])
        // A read made before that commit may have missed it.
        let other = MessageNonce.Key(author: "user:masa", nonce: "m")
        #expect(ledger.admit(other, checked: 0, waiter: 4) == .check(generation: 1))
        #expect(ledger.admit(other, checked: 1, waiter: 4) == .claimed)
        #expect(ledger.isEmpty == false)
    }

    @Test func theDuplicateAnswerNamesTheOriginal() {
        let m = ChatMessage(id: "x", seq: 7, room: "lobby", from: "masa", text: "hi", sentAt: "t", author: "user:masa", nonce: "n")
        #expect(
            ServerEvent.duplicate(m, nonce: "n").json
                == #"{"type":"message","message":{"id":"x","seq":7,"room":"lobby","from":"masa","text":"hi","sentAt":"t"},"duplicate":true,"nonce":"n"}"#
        )
        // Other members never see a nonce.
        #expect(!ServerEvent.message(m).json.contains("nonce"))
    }
}
