import ChatControl
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
    /// name → muted until (seconds since 1970; .infinity for "until unmuted").
    private let mutes = NIOLockedValueBox<[String: Double]>([:])

    init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    // MARK: Mutes

    func isMuted(_ name: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        mutes.withLockedValue { mutes in
            guard let until = mutes[name] else { return false }
            if until <= now {
                mutes[name] = nil
                return false
            }
            return true
        }
    }

    func mute(_ name: String, seconds: Double?, actor: String, reason: String) {
        let until = seconds.map { Date().timeIntervalSince1970 + $0 } ?? .infinity
        mutes.withLockedValue { $0[name] = until }
        hub.tellCluster(.mute(node: "", name: name, until: until.isFinite ? until : nil))
        record(actor: actor, action: "mute", target: name + (seconds.map { " for \(Int($0))s" } ?? ""), reason: reason)
    }

    /// Returns false when the name was not muted.
    func unmute(_ name: String, actor: String, reason: String) -> Bool {
        let was = mutes.withLockedValue { $0.removeValue(forKey: name) != nil }
        if was { hub.tellCluster(.unmute(node: "", name: name)) }
        if was { record(actor: actor, action: "unmute", target: name, reason: reason) }
        return was
    }

    /// Another node's mute (nil: unmute); its audit entry is that node's.
    func applyMute(_ name: String, until: Double?) {
        mutes.withLockedValue { $0[name] = until }
    }

    // MARK: Deletes

    /// Deletes `room`/`seq` if `allowed` says so of the stored message; members get `deleted`.
    func delete(room: String, seq: UInt64, actor: String, reason: String,
                allowed: @escaping @Sendable (ChatMessage) -> Bool) async -> Outcome {
        guard let store = hub.store else { return .failed("no history store") }
        return await hub.onStoreQueue { [self] in
            do {
                guard let message = try store.message(room: room, seq: seq) else { return .notFound }
                guard allowed(message) else { return .forbidden }
                guard let removed = try store.delete(room: room, seq: seq) else { return .notFound }
                hub.removeFromWindows([removed])
                record(actor: actor, action: "delete", target: "\(room)#\(seq) by \(removed.from)", reason: reason)
                return .deleted(removed)
            } catch {
                return .failed("\(error)")
            }
        }
    }

    /// Erases every message sent under `name`; returns how many.
    func purge(sender name: String, actor: String, reason: String) async -> Result<Int, ControlError> {
        guard let store = hub.store else { return .failure(ControlError(code: "failed", message: "no history store")) }
        return await hub.onStoreQueue { [self] in
            do {
                let removed = try store.purge(sender: name)
                hub.removeFromWindows(removed)
                record(actor: actor, action: "purge-user", target: "\(name): \(removed.count) messages", reason: reason)
                return .success(removed.count)
            } catch {
                return .failure(ControlError(code: "failed", message: "\(error)"))
            }
        }
    }

    func auditLog(since: Double, limit: Int) -> [AuditEntry] {
        (try? hub.store?.auditLog(since: since, limit: limit)) ?? []
    }

    private func record(actor: String, action: String, target: String, reason: String) {
        let entry = AuditEntry(at: Date().timeIntervalSince1970, actor: actor, action: action, target: target, reason: reason)
        logger.notice("moderation", metadata: ["actor": "\(actor)", "action": "\(action)", "target": "\(target)", "reason": "\(reason)"])
        do {
            try hub.store?.audit(entry)
        } catch {
            logger.error("audit log write failed: \(error)")
        }
    }
}
