import ChatCore
import ChatStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Deletes, mutes and erasures, each written to the audit log (a table and a log line).
/// Store work runs on the committer's queue, after every message submitted before it, so a
/// delete never races the commit of the message it names.
final class Moderation: Sendable {
    enum Outcome: Sendable, Equatable {
        case deleted(ChatMessage)
        case notFound
        case forbidden
        case failed(String)
    }

    private let hub: Hub
    private let logger: Logger
    /// identity (`UserTarget`) → muted until (seconds since 1970; .infinity for "until
    /// unmuted"). Keyed on identities, not display names: a muted user who reconnects under
    /// another name stays muted, and a guest who types a muted user's name is not.
    private let mutes = NIOLockedValueBox<[String: Double]>([:])

    init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    // MARK: Mutes

    /// True when the session's author key (identity and guest name) or its credential's
    /// user key is muted.
    func isMuted(userKey: String, authorKey: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        mutes.withLockedValue { mutes in
            for key in UserTarget.keys(userKey: userKey, authorKey: authorKey) {
                guard let until = mutes[key] else { continue }
                if until <= now {
                    mutes[key] = nil
                    continue
                }
                return true
            }
            return false
        }
    }

    func mute(_ target: String, seconds: Double?, actor: String, reason: String) async {
        let name = UserTarget.normalized(target)
        // A duration past any real use is "until unmuted"; no arithmetic can overflow.
        let until = seconds.flatMap { $0.isFinite && $0 < 1e10 ? Date().timeIntervalSince1970 + max(0, $0) : nil } ?? .infinity
        mutes.withLockedValue { $0[name] = until }
        hub.tellCluster(.mute(node: "", name: name, until: until.isFinite ? until : nil))
        await record(
            actor: actor, action: "mute", target: name + (until.isFinite ? " for \(Int((seconds ?? 0).rounded()))s" : ""), reason: reason)
    }

    /// Returns false when the name was not muted.
    func unmute(_ target: String, actor: String, reason: String) async -> Bool {
        let name = UserTarget.normalized(target)
        let was = mutes.withLockedValue { $0.removeValue(forKey: name) != nil }
        if was { hub.tellCluster(.unmute(node: "", name: name)) }
        if was { await record(actor: actor, action: "unmute", target: name, reason: reason) }
        return was
    }

    /// Another node's mute (nil: unmute); its audit entry is that node's.
    func applyMute(_ name: String, until: Double?) {
        mutes.withLockedValue { $0[name] = until }
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
    func delete(
        room: String, seq: UInt64, actor: String, reason: String,
        allowed: @escaping @Sendable (ChatMessage) -> Bool
    ) async -> Outcome {
        guard let store = hub.store else { return .failed("no history store") }
        return await hub.onStoreQueue { [self] in
            do {
                guard let message = try await store.message(room: room, seq: seq) else { return .notFound }
                guard allowed(message) else { return .forbidden }
                guard let removed = try await store.delete(room: room, seq: seq) else { return .notFound }
                hub.removeFromWindows([removed])
                await record(actor: actor, action: "delete", target: "\(room)#\(seq) by \(removed.from)", reason: reason)
                return .deleted(removed)
            } catch {
                return .failed("\(error)")
            }
        }
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

    private func record(actor: String, action: String, target: String, reason: String) async {
        let entry = AuditEntry(at: Date().timeIntervalSince1970, actor: actor, action: action, target: target, reason: reason)
        logger.notice("moderation", metadata: ["actor": "\(actor)", "action": "\(action)", "target": "\(target)", "reason": "\(reason)"])
        do {
            try await hub.store?.audit(entry)
        } catch {
            logger.error("audit log write failed: \(error)")
        }
    }
}
