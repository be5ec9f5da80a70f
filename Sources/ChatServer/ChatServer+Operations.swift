import ChatConfig
public import ChatCore
import Foundation
import Logging
import NIOCore

/// What an operator can ask of a running chatd (the control socket, `chatctl`, the tests):
/// reports, server push, moderation.
extension ChatServer {
    public func status() -> ServerStatus {
        let s = state.withLockedValue { $0 }
        return ServerStatus(
            version: options.version, pid: getpid(), uptimeSeconds: Date().timeIntervalSince(s.started),
            configPath: options.configPath, configGeneration: s.generation, connections: connectionCount,
            rooms: core.hub.roomSummaries().filter { $0.members > 0 }.count,
            messagesIn: core.hub.messagesIn.load(ordering: .relaxed), messagesOut: core.hub.framesOut.load(ordering: .relaxed),
            ready: core.ready.load(ordering: .relaxed), lastReload: s.lastReload,
            cluster: bus?.status)
    }

    /// The `STATUS=` line for systemd.
    func statusLine() -> String {
        let rooms = core.hub.roomSummaries().filter { $0.members > 0 }.count
        let generation = state.withLockedValue { $0.generation }
        // The housekeeper keeps this line current during a drain too (it stops after the chat door).
        let draining = core.draining.load(ordering: .relaxed) ? "draining: " : ""
        return "STATUS=\(draining)\(connectionCount) connections, \(rooms) rooms, config generation \(generation)"
    }

    public func connections(room: String?) async -> [ConnectionSummary] {
        await core.hub.onEveryLoop { $0.connections(room: room) }.flatMap { $0 }.sorted { $0.connectedSeconds > $1.connectedSeconds }
    }

    public func rooms() -> [RoomSummary] { core.hub.roomSummaries() }

    /// Closes matching connections with 1008 and `reason`; returns how many.
    public func kick(connection: String?, user: String?, reason: String) async -> Int {
        let count = await core.hub.onEveryLoop { $0.kick(connection: connection, user: user, reason: reason) }.reduce(0, +)
        // A user may be connected to other nodes too; connection ids are this node's own.
        if let user, connection == nil { core.hub.tellCluster(.kick(node: "", name: user, reason: reason)) }
        core.logger.notice("kick", metadata: ["connection": "\(connection ?? "-")", "user": "\(user ?? "-")", "closed": "\(count)"])
        return count
    }

    // MARK: Server push

    /// Sends an event to a room as the server (`POST /api/publish`, `chatctl publish`): it
    /// follows the room's history and slow-consumer rules like any message.
    public func publish(_ request: PublishRequest, from: String) async -> Result<ChatMessage, PublishRefusal> {
        await core.publish(request, from: from)
    }

    /// `limits.max_message_chars` in force, for publishers outside the HTTP path.
    var maxMessageChars: Int { core.settings.current.maxMessageChars }

    // MARK: Moderation

    /// Deletes a message as an operator; members get `deleted`.
    public func deleteMessage(room: String, seq: UInt64, actor: String, reason: String) async -> Result<Void, OperationFailure> {
        let window = core.settings.current.historyWindow
        switch await core.moderation.delete(
            room: room, seq: seq, actor: actor, reason: reason, historyWindow: window, allowed: { _ in true })
        {
        case .deleted: return .success(())
        case .notFound, .forbidden: return .failure(.notFound("no message \(seq) in room \(room)"))
        case let .failed(why): return .failure(.failed(why))
        }
    }

    /// The texts a message had before each of its edits (for operators; moderators ask with
    /// `versions` on their connection).
    public func messageVersions(room: String, seq: UInt64) async -> Result<[MessageVersion], OperationFailure> {
        guard let store = core.hub.store else { return .failure(.failed("no history store")) }
        do {
            return .success(try await store.versions(room: room, seq: seq))
        } catch {
            return .failure(.failed("the history store could not be read: \(error)"))
        }
    }

    /// Mutes or bans `user` (a `UserTarget`) on every node; nil, or why it holds only until
    /// the nodes restart (the store could not take it).
    public func restrict(
        _ kind: Restriction.Kind, user: String, seconds: Double?, actor: String, reason: String
    ) async -> (target: String, closed: Int, notStored: String?) {
        let applied = await core.moderation.restrict(kind, user, seconds: seconds, actor: actor, reason: reason)
        return (applied.target, applied.closed, applied.notStored)
    }

    /// Lifts a mute or ban on every node; false when there was none in force.
    public func lift(_ kind: Restriction.Kind, user: String, actor: String, reason: String) async -> (lifted: Bool, notStored: String?) {
        await core.moderation.lift(kind, user, actor: actor, reason: reason)
    }

    /// The mutes or bans in force, with who set them and why.
    public func restrictions(_ kind: Restriction.Kind) async throws -> [Restriction] {
        try await core.moderation.list(kind)
    }

    /// How many connections of this node answer to the identity `user` (`UserTarget`).
    public func connectionCount(user: String) async -> Int {
        await core.hub.onEveryLoop { $0.count(user: user) }.reduce(0, +)
    }

    public func purge(user: String, actor: String, reason: String) async -> Result<Int, OperationFailure> {
        await core.moderation.purge(sender: user, actor: actor, reason: reason)
    }

    /// Runs the retention job now (it also runs every `retention.interval_seconds`);
    /// returns how many messages expired.
    @discardableResult
    public func expireHistory() async -> Int { await retention.runNow() }

    public func auditLog(since: Double, limit: Int = 10_000) async -> [AuditEntry] {
        await core.moderation.auditLog(since: since, limit: limit)
    }

    /// Prometheus text exposition of every metric.
    public func metricsText() -> String { String(decoding: core.metrics.text(), as: UTF8.self) }
}
