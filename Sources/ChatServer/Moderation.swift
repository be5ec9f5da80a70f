import ChatCore
import ChatStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Deletes, mutes, bans and erasures, each written to the audit log (a table and a log line).
/// A delete's store work runs on the committer's queue, after every message submitted before it, so it
/// never races the commit of the message it names.
final class Moderation: Sendable {
    enum Outcome: Sendable, Equatable {
        case deleted(ChatMessage)
        case notFound
        case forbidden
        case failed(String)
    }

    let hub: Hub
    let logger: Logger
    /// Mutes and bans in force, by kind and identity (`UserTarget`): a cache of the store's
    /// (the only copy without one), consulted on every message and upgrade. Keyed on
    /// identities, not display names: a muted user who reconnects under another name stays
    /// muted, and a guest who types a muted user's name is not.
    let held = NIOLockedValueBox(Held())

    init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    // MARK: Edits

    enum Lookup: Sendable, Equatable {
        case found(ChatMessage)
        case notFound
        case forbidden
        case failed
    }

    /// The message `room`/`seq` (not an edit), if `allowed` says so of it: from the store, on
    /// its queue; without a store, from the room's window, all there is.
    func editTarget(room: String, seq: UInt64, allowed: @escaping @Sendable (ChatMessage) -> Bool) async -> Lookup {
        guard let store = hub.store else {
            let held = hub.existingRoom(room).flatMap { room in
                room.lock.withLock { room.state.history.messages.last { $0.seq == seq && $0.isMessage } }
            }
            guard let held else { return .notFound }
            return allowed(held) ? .found(held) : .forbidden
        }
        return await hub.onStoreQueue {
            do {
                guard let message = try await store.message(room: room, seq: seq) else { return .notFound }
                return allowed(message) ? .found(message) : .forbidden
            } catch {
                return .failed
            }
        }
    }

    /// A moderator changed another's message: the audit log says who, and what it said.
    func recordEdit(of message: ChatMessage, actor: String) async {
        await record(actor: actor, action: "edit", target: "\(message.room)#\(message.seq) by \(message.from)", reason: "moderator")
    }

    // MARK: Deletes

    /// Deletes `room`/`seq` if `allowed` says so of the stored message; members get `deleted`.
    /// A deletion is an entry of the room's log, like an edit: it takes the room's next
    /// number, and the store removes the message (its changes and reactions with it) in the
    /// transaction that stores the deletion, so that a resume from before it, on any node,
    /// learns of it in its place.
    func delete(
        room: String, seq: UInt64, actor: String, reason: String, historyWindow: Int,
        allowed: @escaping @Sendable (ChatMessage) -> Bool
    ) async -> Outcome {
        guard hub.store != nil else { return .failed("no history store") }
        let message: ChatMessage
        switch await editTarget(room: room, seq: seq, allowed: allowed) {
        case let .found(found): message = found
        case .notFound: return .notFound
        case .forbidden: return .forbidden
        case .failed: return .failed("the history store could not be read")
        }
        let stored: Result<ChatMessage, any Error> = await withCheckedContinuation { done in
            // Nothing of the message, nor of who deleted it (the audit log says), in its place.
            hub.publish(
                room: room, from: "", text: "", editOf: MessageRef(seq: message.seq, id: message.id), deletion: true,
                historyWindow: historyWindow
            ) { done.resume(returning: $0) }
        }
        if case let .failure(error) = stored { return .failed("\(error)") }
        await record(actor: actor, action: "delete", target: "\(room)#\(seq) by \(message.from)", reason: reason)
        return .deleted(message)
    }

    /// Erases every message sent under `name`; returns how many. In parts of
    /// `purgePart`, each a job of its own on the store queue, so that rooms' commits go on
    /// between them: erasing 40,000 messages at once held every room's messages for 2 s.
    func purge(sender name: String, actor: String, reason: String) async -> Result<Int, OperationFailure> {
        guard let store = hub.store else { return .failure(.failed("no history store")) }
        var total = 0
        var failure: (any Error)?
        var more = true
        // What was sent until now: a sender who keeps sending cannot keep the purge going.
        let upTo = Hub.sentAtNow()
        while more {
            // Rows taken (edits included: fewer than a part means none are left), and messages.
            let part: Result<(rows: Int, messages: Int), any Error> = await hub.onStoreQueue { [hub] in
                do {
                    let removed = try await store.purge(sender: name, sentUpTo: upTo, limit: Self.purgePart)
                    hub.removeFromWindows(removed)
                    return .success((removed.count, removed.filter(\.isMessage).count))
                } catch {
                    return .failure(error)
                }
            }
            switch part {
            case let .success(count):
                total += count.messages
                more = count.rows == Self.purgePart
            case let .failure(error):
                failure = error
                more = false
            }
        }
        if let failure {
            if total > 0 {
                await record(actor: actor, action: "purge-user", target: "\(name): \(total) messages, then failed", reason: reason)
            }
            return .failure(.failed("\(total) messages erased, then: \(failure)"))
        }
        await record(actor: actor, action: "purge-user", target: "\(name): \(total) messages", reason: reason)
        return .success(total)
    }

    static let purgePart = 500

    func auditLog(since: Double, limit: Int) async -> [AuditEntry] {
        (try? await hub.store?.auditLog(since: since, limit: limit)) ?? []
    }

    /// The newest `limit` entries, oldest first; throws when the store cannot be read.
    func recentAudit(limit: Int) async throws -> [AuditEntry] {
        try await hub.store?.recentAudit(limit: limit) ?? []
    }

    func record(actor: String, action: String, target: String, reason: String) async {
        let entry = AuditEntry(at: Date().timeIntervalSince1970, actor: actor, action: action, target: target, reason: reason)
        logger.notice("moderation", metadata: ["actor": "\(actor)", "action": "\(action)", "target": "\(target)", "reason": "\(reason)"])
        do {
            try await hub.store?.audit(entry)
        } catch {
            logger.error("audit log write failed: \(error)")
        }
    }
}
