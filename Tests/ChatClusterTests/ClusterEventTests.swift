import ChatCore
import Foundation
import Testing

@testable import ChatCluster

@Suite struct ClusterEventTests {
    func roundTrip(_ event: ClusterEvent) throws -> ClusterEvent? {
        let wire = try #require(ClusterNotification(event))
        let json = try JSONEncoder().encode(wire)
        #expect(json.count < 8000)
        return try JSONDecoder().decode(ClusterNotification.self, from: json).event
    }

    @Test(arguments: [
        ClusterEvent.presence(node: "n1", room: "lobby", online: 3, text: "alice joined"),
        .deleted(node: "n2", room: "lobby", seq: 41, id: "c0ffee"),
        .expired(node: "n1", room: "dash-1", upTo: 900),
        .kick(node: "n3", name: "mallory", reason: "spam"),
        .mute(node: "n1", name: "bob", until: 1_900_000_000),
        .mute(node: "n1", name: "bob", until: nil),
        .unmute(node: "n1", name: "bob"),
        .ban(node: "n2", name: "jwt:https://issuer:mallory", until: 1_900_000_000.5),
        .ban(node: "n2", name: "guest:mallory", until: nil),
        .unban(node: "n2", name: "guest:mallory"),
        .typing(node: "n2", room: "lobby", from: "ann \"the quick\""),
        .read(node: "n1", room: "lobby", reader: "token:dev-token:ann", seq: 42),
    ])
    func eventsSurviveTheClusterNotification(event: ClusterEvent) throws {
        #expect(try roundTrip(event) == event)
    }

    /// The shape `PostgresStore.appendQuery` builds with json_build_object.
    @Test func messageBatchFromTheDatabase() throws {
        let payload = #"""
            {"k" : "m", "n" : "n2", "r" : "lobby", "a" : 7, "b" : 8, "m" : [
              {"seq" : 7, "id" : "a", "from" : "alice", "text" : "hi", "sentAt" : "2026-11-27T00:00:00.000Z", "author" : "k:alice", "data" : null},
              {"seq" : 8, "id" : "b", "from" : "ops", "text" : "", "sentAt" : "2026-11-27T00:00:01.000Z", "author" : "server:ops", "data" : "{\"cpu\":0.5}"}]}
            """#
        let event = try JSONDecoder().decode(ClusterNotification.self, from: Data(payload.utf8)).event
        guard case let .messages(node, room, through, messages)? = event else {
            Issue.record("not a message batch: \(String(describing: event))")
            return
        }
        #expect(node == "n2" && room == "lobby" && through == 8)
        #expect(messages?.map(\.seq) == [7, 8])
        #expect(messages?.first?.data == nil && messages?.last?.data == #"{"cpu":0.5}"#)
        #expect(messages?.allSatisfy { $0.room == "lobby" } == true)
    }

    /// A node's own batch is read by its numbers only; anything else is left whole.
    @Test func ownBatchIsCutToItsHead() throws {
        let payload = #"""
            {"k" : "m", "n" : "n2", "r" : "a \", \"m\" : [ room", "a" : 7, "b" : 8, "m" : [{"seq" : 7, "id" : "a", "from" : "alice", "text" : ", \"m\" : [", "sentAt" : "2026-11-27T00:00:00.000Z", "author" : "k:alice", "data" : null}]}
            """#
        let head = try #require(ClusterNotification.head(ofOwnBatch: payload, node: "n2"))
        let event = try JSONDecoder().decode(ClusterNotification.self, from: Data(head.utf8)).event
        #expect(event == .messages(node: "n2", room: #"a ", "m" : [ room"#, through: 8, messages: nil))
        #expect(ClusterNotification.head(ofOwnBatch: payload, node: "n1") == nil)
        #expect(ClusterNotification.head(ofOwnBatch: payload, node: "n") == nil)
        #expect(ClusterNotification.head(ofOwnBatch: #"{"k" : "p", "n" : "n2", "r" : "lobby"}"#, node: "n2") == nil)
    }

    /// Too large for NOTIFY: only the room and the last number; the nodes read the rows.
    @Test func rangeOnlyBatch() throws {
        let event = try JSONDecoder().decode(ClusterNotification.self, from: Data(#"{"k":"m","n":"n1","r":"lobby","a":3,"b":9}"#.utf8))
            .event
        #expect(event == .messages(node: "n1", room: "lobby", through: 9, messages: nil))
    }

    /// A newer node's notification this one does not know is ignored, not misread.
    @Test func unknownKindsAreIgnored() throws {
        let wire = try JSONDecoder().decode(ClusterNotification.self, from: Data(#"{"k":"shard-move","n":"n9","r":"lobby"}"#.utf8))
        #expect(wire.event == nil)
    }

    /// Events that only arrive (or only the database sends) have no wire form of this node's.
    @Test func receivedOnlyEventsAreNotSent() {
        #expect(ClusterNotification(.resync) == nil)
        #expect(ClusterNotification(.nodeGone(node: "n2")) == nil)
        #expect(ClusterNotification(.snapshot(node: "n2", counts: [:])) == nil)
    }
}
