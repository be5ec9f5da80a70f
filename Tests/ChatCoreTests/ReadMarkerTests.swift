import Foundation
import Testing

@testable import ChatCore

/// Issue 17, item 5: read markers and unread counts.
@Suite struct ReadMarkerTests {
    static func decode(_ json: String) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(json.utf8), maxChars: 20)
    }

    static func object(_ event: ServerEvent) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(event.jsonBytes())) as? [String: Any])
    }

    @Test func aReadIsDecodedStrictly() {
        #expect(Self.decode(#"{"type":"read","seq":7}"#) == .success(.read(seq: 7, room: nil)))
        #expect(Self.decode(#"{"type":"read","seq":7,"room":"b"}"#) == .success(.read(seq: 7, room: "b")))
        #expect(Self.decode(#"{"type":"read","seq":7,"room":null}"#) == .success(.read(seq: 7, room: nil)))
        for bad in ["0", "-1", "1.5", "true", "1e300", #""7""#, "null", "[7]"] {
            #expect(Self.decode(#"{"type":"read","seq":\#(bad)}"#) == .failure(.badField), "seq \(bad)")
        }
        #expect(Self.decode(#"{"type":"read"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"read","seq":7,"room":"no spaces"}"#) == .failure(.badField))
        #expect(Self.decode(#"{"type":"rooms"}"#) == .success(.rooms))
        #expect(Self.decode(#"{"type":"rooms","room":5}"#) == .failure(.badField))
    }

    @Test func aReadNeedsTheRoomJoinedAndReadable() {
        #expect(CommandPlanTests.plan(.read(seq: 7, room: nil)) == .read(room: "lobby", seq: 7))
        #expect(CommandPlanTests.plan(.read(seq: 7, room: "b")) == .refuse(.notJoined))
        let two = CommandPlanTests.session(rooms: ["lobby", "b"])
        #expect(CommandPlanTests.plan(.read(seq: 3, room: "b"), two) == .read(room: "b", seq: 3))
        // A mute stops sending, not reading.
        #expect(CommandPlanTests.plan(.read(seq: 7, room: nil), muted: true) == .read(room: "lobby", seq: 7))
        #expect(CommandPlanTests.plan(.rooms) == .rooms)
    }

    @Test func aPositionIsNeverBeyondWhatTheRoomHolds() {
        #expect(ReadMarkers.position(7, lastStored: 10) == 7)
        #expect(ReadMarkers.position(70, lastStored: 10) == 10)
        #expect(ReadMarkers.position(7, lastStored: 0) == 0)
    }

    @Test func theEventsSayWhatWasReadAndWhatIsNot() throws {
        let read = try Self.object(.reads(.read(room: "lobby", seq: 12)))
        #expect(read as NSDictionary == ["type": "read", "room": "lobby", "seq": 12] as NSDictionary)
        let unread = try Self.object(.reads(.unread(ReadState(room: "lobby", readSeq: 12, counted: 3, lastSeq: 20))))
        #expect(unread as NSDictionary == ["type": "unread", "room": "lobby", "readSeq": 12, "unread": 3, "lastSeq": 20] as NSDictionary)
        let capped = try Self.object(.reads(.unread(ReadState(room: "a", readSeq: 0, counted: ReadMarkers.unreadCap + 1, lastSeq: 5000))))
        #expect(capped["unread"] as? Int == ReadMarkers.unreadCap)
        #expect(capped["unreadCapped"] as? Bool == true)
        let exactly = ReadState(room: "a", readSeq: 0, counted: ReadMarkers.unreadCap, lastSeq: 5000)
        #expect(exactly.unread == ReadMarkers.unreadCap && !exactly.capped)
        let rooms = try Self.object(
            .reads(
                .rooms([
                    ReadState(room: "lobby", readSeq: 2, counted: 1, lastSeq: 4),
                    ReadState(room: "old", readSeq: 9, counted: 0, lastSeq: nil, joined: false),
                ])))
        #expect(rooms["type"] as? String == "rooms")
        let list = try #require(rooms["rooms"] as? [[String: Any]])
        #expect(list.count == 2)
        #expect(
            list[0] as NSDictionary == ["room": "lobby", "readSeq": 2, "unread": 1, "lastSeq": 4, "joined": true] as NSDictionary)
        #expect(list[1] as NSDictionary == ["room": "old", "readSeq": 9, "unread": 0, "joined": false] as NSDictionary)
    }

    @Test func aConnectionWritesOnePositionPerRoomAtATimeAndOnlyTheHighestWaits() {
        var writes = ReadWrites()
        #expect(writes.requested(room: "a", seq: 5) == 5)
        // Meanwhile: merged, the highest kept.
        #expect(writes.requested(room: "a", seq: 9) == nil)
        #expect(writes.requested(room: "a", seq: 7) == nil)
        // Another room is written at once.
        #expect(writes.requested(room: "b", seq: 1) == 1)
        #expect(writes.inFlight == 2)
        #expect(writes.written(room: "a", stored: 5) == 9)
        #expect(writes.written(room: "a", stored: 9) == nil)
        #expect(writes.requested(room: "a", seq: 3) == 3)
        // Another connection moved it further meanwhile: nothing left to write.
        #expect(writes.requested(room: "a", seq: 4) == nil)
        #expect(writes.written(room: "a", stored: 10) == nil)
        // A failed write does not stop the one that waited.
        #expect(writes.requested(room: "b", seq: 2) == nil)
        #expect(writes.written(room: "b", stored: nil) == 2)
        #expect(writes.written(room: "b", stored: 2) == nil)
        #expect(writes.inFlight == 0)
    }
}
