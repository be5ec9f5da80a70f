import Foundation
import Testing

@testable import ChatCore

/// Issue 17, item 1: edits as entries of the room's log.
@Suite struct EditTests {
    static func decode(_ json: String, maxChars: Int = 20) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(json.utf8), maxChars: maxChars)
    }

    static let message = ChatMessage(
        id: "m-1", seq: 7, room: "lobby", from: "ann", text: "helo", sentAt: "2026-12-04T10:00:00.000Z", author: "credential:ann")
    static let edit = ChatMessage(
        id: "e-1", seq: 9, room: "lobby", from: "ann", text: "hello", sentAt: "2026-12-04T10:01:00.000Z", author: "credential:ann",
        editOf: MessageRef(seq: 7, id: "m-1"))

    @Test func anEditIsDecodedStrictlyAndItsTextCleanedLikeAMessage() {
        #expect(Self.decode(#"{"type":"edit","seq":7,"text":" hel\u0007lo "}"#) == .success(.edit(seq: 7, text: "hello", room: nil)))
        #expect(Self.decode(#"{"type":"edit","seq":7,"text":"x","room":"b"}"#) == .success(.edit(seq: 7, text: "x", room: "b")))
        #expect(Self.decode(#"{"type":"edit","seq":0,"text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":-1,"text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":1.5,"text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":true,"text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":1e300,"text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":"7","text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","text":"x"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":7}"#) == .failure(.empty))
        #expect(Self.decode(#"{"type":"edit","seq":7,"text":"  \u200b"}"#) == .failure(.empty))
        #expect(Self.decode(#"{"type":"edit","seq":7,"text":5}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"edit","seq":7,"text":"\#(String(repeating: "x", count: 21))"}"#) == .failure(.tooLarge))
    }

    @Test func authorsEditWhereTheyMaySendAndUnmutedModeratorsAnywhereTheyRead() {
        let user = CommandPlanTests.session()
        #expect(
            CommandPlanTests.plan(.edit(seq: 7, text: "x", room: nil), user) == .edit(room: "lobby", seq: 7, text: "x", asModerator: false))
        #expect(CommandPlanTests.plan(.edit(seq: 7, text: "x", room: "b"), user) == .refuse(.notJoined))
        #expect(CommandPlanTests.plan(.edit(seq: 7, text: "x", room: nil), user, muted: true) == .refuse(.muted))
        let announcer = CommandPlanTests.session(rooms: ["lobby", "announcements"])
        #expect(CommandPlanTests.plan(.edit(seq: 7, text: "x", room: "announcements"), announcer) == .refuse(.readOnly))
        let moderator = CommandPlanTests.session(.moderator, rooms: ["lobby", "announcements"])
        #expect(
            CommandPlanTests.plan(.edit(seq: 7, text: "x", room: "announcements"), moderator, muted: true)
                == .edit(room: "announcements", seq: 7, text: "x", asModerator: true))
    }

    @Test func onlyModeratorsAskForEarlierVersions() {
        #expect(Self.decode(#"{"type":"versions","seq":7}"#) == .success(.versions(seq: 7, room: nil)))
        #expect(Self.decode(#"{"type":"versions","seq":0}"#) == .failure(.badField))
        #expect(CommandPlanTests.plan(.versions(seq: 7, room: nil), CommandPlanTests.session()) == .refuse(.forbidden))
        let moderator = CommandPlanTests.session(.moderator)
        #expect(CommandPlanTests.plan(.versions(seq: 7, room: nil), moderator) == .versions(room: "lobby", seq: 7))
        #expect(CommandPlanTests.plan(.versions(seq: 7, room: "elsewhere"), moderator) == .refuse(.notJoined))
    }

    @Test func anEditGoesOutAsEditedAndAMessageShowsWhenItWasEdited() throws {
        let event = try JSONSerialization.jsonObject(with: Data(ServerEvent.message(Self.edit).jsonBytes())) as! [String: Any]
        #expect(event["type"] as? String == "edited")
        #expect(event["room"] as? String == "lobby")
        #expect(event["seq"] as? Int == 7)
        #expect(event["id"] as? String == "m-1")
        #expect(event["text"] as? String == "hello")
        #expect(event["editedAt"] as? String == "2026-12-04T10:01:00.000Z")
        #expect(event["by"] as? String == "ann")
        #expect(event["at"] as? Int == 9)
        let edited = Self.message.applying(Self.edit)
        let shown = try JSONSerialization.jsonObject(with: Data(ServerEvent.message(edited).jsonBytes())) as! [String: Any]
        let body = shown["message"] as! [String: Any]
        #expect(body["text"] as? String == "hello")
        #expect(body["editedAt"] as? String == "2026-12-04T10:01:00.000Z")
        #expect(ServerEvent.message(Self.message).json.contains("editedAt") == false)
    }

    /// A history holds messages only; edits of messages it does not hold (a resume's) follow
    /// in `edits`, in order; those of messages it holds are already in their text.
    @Test func aHistoryCarriesTheEditsOfMessagesItDoesNotHold() throws {
        let later = ChatMessage(id: "m-2", seq: 8, room: "lobby", from: "bob", text: "hi", sentAt: "2026-12-04T10:00:30.000Z")
        var second = Self.edit
        second.seq = 10
        second.text = "hello!"
        let editOfLater = ChatMessage(
            id: "e-3", seq: 11, room: "lobby", from: "bob", text: "hi all", sentAt: "2026-12-04T10:02:00.000Z",
            editOf: MessageRef(seq: 8, id: "m-2"))
        let event = ServerEvent.history(room: "lobby", messages: [later, Self.edit, second, editOfLater], recovered: true)
        let json = try JSONSerialization.jsonObject(with: Data(event.jsonBytes())) as! [String: Any]
        #expect((json["messages"] as! [[String: Any]]).map { $0["seq"] as! Int } == [8])
        let edits = json["edits"] as! [[String: Any]]
        #expect(edits.map { $0["at"] as! Int } == [9, 10])
        #expect(edits.map { $0["text"] as! String } == ["hello", "hello!"])
        let plain = ServerEvent.history(room: "lobby", messages: [Self.message])
        #expect(plain.json.contains("edits") == false)
    }

    @Test func theWindowShowsTheCurrentTextAndKeepsTheEditForResumes() {
        var state = RoomState(historyWindow: 5, shardCount: 1)
        state.committed(Self.message)
        let before = state.history.generation
        state.committed(Self.edit)
        #expect(state.history.generation != before)
        #expect(state.history.messages.map(\.seq) == [7, 9])
        #expect(state.history.messages[0].text == "hello")
        #expect(state.history.messages[0].editedAt == "2026-12-04T10:01:00.000Z")
        // An edit of a message the window no longer holds is kept, and changes nothing else.
        var orphan = Self.edit
        orphan.seq = 10
        orphan.editOf = MessageRef(seq: 3, id: "m-0")
        let delivered = state.deliveredInOrder(orphan)
        #expect(delivered)
        #expect(state.history.messages.map(\.text) == ["hello", "hello", "hello"])
    }

    @Test func aWebhookOfAnEditNestsItsFields() throws {
        let event = WebhookEvent.edited(Self.edit, at: 1_764_842_460, id: "ev-1")
        #expect(event.type == .messageEdited)
        let json = try JSONSerialization.jsonObject(with: Data(event.body.utf8)) as! [String: Any]
        #expect(json["id"] as? String == "ev-1")
        #expect(json["type"] as? String == "message_edited")
        let edit = json["edit"] as! [String: Any]
        #expect(edit["seq"] as? Int == 7)
        #expect(edit["id"] as? String == "m-1")
        #expect(edit["at"] as? Int == 9)
    }

    @Test func aBackendIsToldWhichMessageAnEditChanges() throws {
        let request = BackendProxy.PublishRequest(room: "lobby", user: "u", name: "ann", text: "x", address: "127.0.0.1", edit: 7)
        let json = try JSONSerialization.jsonObject(with: Data(request.body)) as! [String: Any]
        #expect(json["edit"] as? Int == 7)
        let plain = BackendProxy.PublishRequest(room: "lobby", user: "u", name: "ann", text: "x", address: "127.0.0.1")
        #expect(String(decoding: plain.body, as: UTF8.self).contains("edit") == false)
    }

    /// Found by review: messages deleted before a resume left a hole that made it
    /// `recovered: false`, though their deletions are in the log and told.
    @Test func aHoleThatTheLogsDeletionsExplainIsRecovered() {
        func deletion(_ seq: UInt64, of target: UInt64) -> ChatMessage {
            ChatMessage.gone(
                ChatMessage(
                    id: "d-\(seq)", seq: seq, room: "lobby", from: "", text: "", sentAt: "", editOf: MessageRef(seq: target, id: "m")))
        }
        func message(_ seq: UInt64) -> ChatMessage {
            ChatMessage(id: "m-\(seq)", seq: seq, room: "lobby", from: "a", text: "t", sentAt: "")
        }
        let entries = [message(3), message(4), deletion(5, of: 1), deletion(6, of: 2)]
        #expect(ResumePlan.startsRight(entries, since: 0))
        #expect(ResumePlan.startsRight(entries, since: 1))
        #expect(ResumePlan.startsRight(entries, since: 2))
        #expect(!ResumePlan.startsRight([message(3), message(4), deletion(5, of: 1)], since: 0))
        #expect(!ResumePlan.startsRight([message(3)], since: 0))
        #expect(!ResumePlan.startsRight([message(3)], since: 3))
        #expect(!ResumePlan.startsRight([], since: 0))
    }
}
