public import ChatCore
import PostgresNIO

/// The audit log in PostgreSQL (`chatd_audit`), shared by every node; an entry's webhook
/// event is written with it.
extension PostgresStore {
    public func audit(_ entry: AuditEntry) async throws {
        try await withOutbox(
            """
            INSERT INTO chatd_audit (at, actor, action, target, reason)
            VALUES (\(entry.at), \(entry.actor), \(entry.action), \(entry.target), \(entry.reason))
            """
        ) { _ in ((), [WebhookEvent.moderation(entry)]) }
    }

    public func auditLog(since: Double, limit: Int) async throws -> [AuditEntry] {
        try await read(
            """
            SELECT at, actor, action, target, reason FROM chatd_audit WHERE at >= \(since) ORDER BY id LIMIT \(Int64(limit))
            """
        ).map { row in
            let (at, actor, action, target, reason) = try row.decode((Double, String, String, String, String).self)
            return AuditEntry(at: at, actor: actor, action: action, target: target, reason: reason)
        }
    }

    public func recentAudit(limit: Int) async throws -> [AuditEntry] {
        try await read(
            """
            SELECT at, actor, action, target, reason FROM (
                SELECT id, at, actor, action, target, reason FROM chatd_audit ORDER BY id DESC LIMIT \(Int64(max(limit, 0)))
            ) AS newest ORDER BY id
            """
        ).map { row in
            let (at, actor, action, target, reason) = try row.decode((Double, String, String, String, String).self)
            return AuditEntry(at: at, actor: actor, action: action, target: target, reason: reason)
        }
    }

    public func expireAudit(before: Double, batch: Int) async throws -> Int {
        // Every node's retention job may run this at once; a row deleted by another is
        // simply not counted here.
        let row = try await write(
            """
            WITH del AS (
                DELETE FROM chatd_audit WHERE id IN (
                    SELECT id FROM chatd_audit WHERE at < \(before) ORDER BY at LIMIT \(Int64(max(batch, 0))))
                RETURNING 1
            )
            SELECT count(*) FROM del
            """
        ).first
        guard let row else { return 0 }
        return Int(try row.decode(Int64.self))
    }

    public func versions(room: String, seq: UInt64) async throws -> [MessageVersion] {
        try await read(
            """
            SELECT previous, sender, sent_at FROM chatd_message
            WHERE room = \(room) AND edit_of = \(Int64(clamping: seq)) AND previous IS NOT NULL ORDER BY seq
            """
        ).map { row in
            let (text, by, at) = try row.decode((String, String, String).self)
            return MessageVersion(text: text, replacedBy: by, replacedAt: at)
        }
    }
}
