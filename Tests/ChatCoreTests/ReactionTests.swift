import Foundation
import Testing

@testable import ChatCore

/// Issue 17, item 2: reactions, as changes in the room's log.
@Suite struct ReactionTests {
    static func decode(_ json: String) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(json.utf8), maxChars: 20)
    }

    @Test func aReactionIsOneEmojiGrapheme() {
        for yes in ["👍", "👍🏽", "❤️", "🇯🇵", "👨‍👩‍👧", "1️⃣", "🎉", "☺️", "❤️‍🔥", "🏳️‍🌈", "👩🏽‍💻", "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"] {
            #expect(Reactions.isEmoji(yes), "\(yes)")
        }
        // Look-alikes of one emoji (found by review), and what is not an emoji at all.
        let lookAlikes = [
            "👍\u{FE0F}", "👍" + String(repeating: "\u{FE0F}", count: 20), "👍\u{FE0E}", "👍\u{200D}",
            "👍" + String(repeating: "\u{0301}", count: 30),
            "🇯", "🏽", "1\u{20E3}", "❤\u{FE0E}", "❤", "a\u{FE0F}\u{20E3}",
        ]
        for no in ["", "a", "1", "#", "ok", "👍👍", "👍 ", "\u{200D}", "\u{FE0F}", "©", String(repeating: "👍", count: 20)] + lookAlikes {
            #expect(!Reactions.isEmoji(no), "\(no.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func reactAndUnreactAreDecodedStrictly() {
        #expect(Self.decode(#"{"type":"react","seq":3,"emoji":"👍"}"#) == .success(.react(seq: 3, emoji: "👍", added: true, room: nil)))
        #expect(
            Self.decode(#"{"type":"unreact","seq":3,"emoji":"👍","room":"b"}"#)
                == .success(.react(seq: 3, emoji: "👍", added: false, room: "b")))
        for bad in [
            #"{"type":"react","seq":3}"#, #"{"type":"react","seq":3,"emoji":"x"}"#, #"{"type":"react","seq":3,"emoji":7}"#,
            #"{"type":"react","seq":0,"emoji":"👍"}"#, #"{"type":"react","seq":true,"emoji":"👍"}"#,
            #"{"type":"react","emoji":"👍"}"#, #"{"type":"react","seq":3,"emoji":"👍👍"}"#,
        ] {
            #expect(Self.decode(bad) == .failure(.badField), "\(bad)")
        }
    }

    @Test func membersWhoMayReadReactUnlessMuted() {
        let member = CommandPlanTests.session(rooms: ["lobby", "announcements"])
        #expect(
            CommandPlanTests.plan(.react(seq: 3, emoji: "👍", added: true, room: "announcements"), member)
                == .react(room: "announcements", seq: 3, emoji: "👍", added: true))
        #expect(CommandPlanTests.plan(.react(seq: 3, emoji: "👍", added: true, room: "elsewhere"), member) == .refuse(.notJoined))
        #expect(CommandPlanTests.plan(.react(seq: 3, emoji: "👍", added: false, room: nil), member, muted: true) == .refuse(.muted))
    }

    @Test func countsGoUpAndDownAndEmojiNobodyUsesGo() {
        var counts: [ReactionCount] = []
        counts = Reactions.counts(counts, ReactionChange(emoji: "👍", added: true))
        counts = Reactions.counts(counts, ReactionChange(emoji: "🎉", added: true))
        counts = Reactions.counts(counts, ReactionChange(emoji: "👍", added: true))
        #expect(counts == [ReactionCount(emoji: "👍", count: 2), ReactionCount(emoji: "🎉", count: 1)])
        counts = Reactions.counts(counts, ReactionChange(emoji: "🎉", added: false))
        counts = Reactions.counts(counts, ReactionChange(emoji: "😀", added: false))
        #expect(counts == [ReactionCount(emoji: "👍", count: 2)])
        let most = Reactions.counts([ReactionCount(emoji: "👍", count: .max)], ReactionChange(emoji: "👍", added: true))
        #expect(most == [ReactionCount(emoji: "👍", count: .max)])
        #expect(Reactions.decode(Reactions.encode(counts)) == counts)
        #expect(Reactions.encode([]) == nil)
        for damaged in [nil, "", "{}", "[[1,2]]", #"[["👍",-1]]"#, #"[["👍"]]"#, "x"] { #expect(Reactions.decode(damaged).isEmpty) }
    }

    static let message = ChatMessage(id: "m-3", seq: 3, room: "lobby", from: "ann", text: "hi", sentAt: "2026-12-04T10:00:00.000Z")

    static func change(_ seq: UInt64, _ emoji: String, added: Bool = true, counts: [ReactionCount]) -> ChatMessage {
        ChatMessage(
            id: "r-\(seq)", seq: seq, room: "lobby", from: "bob", text: emoji, sentAt: "2026-12-04T10:01:00.000Z",
            editOf: MessageRef(seq: 3, id: "m-3"), reaction: ReactionChange(emoji: emoji, added: added), reactions: counts)
    }

    @Test func aReactionChangeGoesOutAsReactionsWithTheCountsItLeft() throws {
        let entry = Self.change(9, "👍", counts: [ReactionCount(emoji: "👍", count: 2)])
        #expect(!entry.isMessage && !entry.isEdit)
        let event = try JSONSerialization.jsonObject(with: Data(ServerEvent.message(entry).jsonBytes())) as! [String: Any]
        #expect(event["type"] as? String == "reactions")
        #expect(event["seq"] as? Int == 3)
        #expect(event["id"] as? String == "m-3")
        #expect(event["counts"] as? [String: Int] == ["👍": 2])
        #expect(event["emoji"] as? String == "👍")
        #expect(event["added"] as? Bool == true)
        #expect(event["by"] as? String == "bob")
        #expect(event["at"] as? Int == 9)
    }

    @Test func aMessageCarriesItsCountsAndForOneReaderItsOwn() throws {
        var message = Self.message.applying(Self.change(9, "👍", counts: [ReactionCount(emoji: "👍", count: 2)]))
        message.mine = ["👍"]
        let shown = try JSONSerialization.jsonObject(with: Data(ServerEvent.message(message).jsonBytes())) as! [String: Any]
        let body = shown["message"] as! [String: Any]
        #expect(body["reactions"] as? [String: Int] == ["👍": 2])
        #expect(body["mine"] as? [String] == ["👍"])
        #expect(!ServerEvent.message(Self.message).json.contains("reactions"))
    }

    /// A resume tells each message it does not hold its last reaction change only.
    @Test func aResumeCarriesTheLastCountsOfMessagesItDoesNotHold() throws {
        let entries = [
            Self.change(9, "👍", counts: [ReactionCount(emoji: "👍", count: 1)]),
            Self.change(10, "🎉", counts: [ReactionCount(emoji: "👍", count: 1), ReactionCount(emoji: "🎉", count: 1)]),
        ]
        let json =
            try JSONSerialization.jsonObject(
                with: Data(ServerEvent.history(room: "lobby", messages: entries, recovered: true).jsonBytes())) as! [String: Any]
        let reactions = json["reactions"] as! [[String: Any]]
        #expect(reactions.map { $0["at"] as! Int } == [10])
        #expect(reactions[0]["counts"] as? [String: Int] == ["👍": 1, "🎉": 1])
        #expect(json["edits"] == nil)
        // A fresh joiner is shown messages in their current state, and no changes.
        #expect(!ServerEvent.history(room: "lobby", messages: entries).json.contains("\"reactions\""))
    }

    /// Only messages count against the window's limit: a burst of reactions does not push
    /// messages out of what joiners see; the changes are bounded too.
    @Test func reactionsDoNotPushMessagesOutOfTheWindow() {
        var window = HistoryWindow(limit: 2)
        window.append(Self.message)
        var second = Self.message
        second.seq = 4
        window.append(second)
        for seq in 5...7 { window.append(Self.change(UInt64(seq), "👍", counts: [ReactionCount(emoji: "👍", count: 1)])) }
        #expect(window.messages.map(\.seq) == [3, 4, 5, 6, 7])
        #expect(window.coveredFrom == 0 && window.resumableFirst?.seq == 3)
        for seq in 8...100 { window.append(Self.change(UInt64(seq), "👍", counts: [])) }
        // The oldest changes went, not the messages; resumes from before them read the store.
        #expect(window.count == 2 * HistoryWindow.entriesPerMessage)
        #expect(window.messages.filter(\.isMessage).map(\.seq) == [3, 4])
        #expect(window.messages.last?.seq == 100)
        #expect(window.coveredFrom == 95 && window.resumableFirst?.seq == 95)
        #expect(window.resumable.map(\.seq) == Array(95...100))
        var third = Self.message
        third.seq = 101
        window.append(third)
        #expect(window.messages.filter(\.isMessage).map(\.seq) == [4, 101])
    }
}
