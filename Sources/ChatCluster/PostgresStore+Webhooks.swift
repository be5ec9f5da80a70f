public import ChatCore
import Foundation
import Logging
import PostgresNIO

/// The webhook outbox in PostgreSQL (`chatd_webhook_outbox`): written in the transaction of
/// the change behind each event; claimed by one node at a time (`FOR UPDATE SKIP LOCKED`
/// and a lease), so that each event is delivered by one node.
extension PostgresStore {
    /// Runs `change`, then writes the webhook events `events` makes of its rows, in one
    /// transaction: an event is in the outbox exactly when its change is committed.
    func withOutbox<T: Sendable>(
        _ change: PostgresQuery, events: @escaping @Sendable ([PostgresRow]) throws -> (T, [WebhookEvent])
    ) async throws -> T {
        let routes = self.routes.withLockedValue { $0 }
        guard !routes.isEmpty else { return try events(try await write(change)).0 }
        let logger = Logger(label: "chatd.store")
        return try await pool.withConnection(timeout: Self.writeTimeout) { connection in
            _ = try await connection.query("BEGIN", logger: logger).collect()
            do {
                let rows = try await connection.query(change, logger: logger).collect()
                let (value, made) = try events(rows)
                for query in Self.outboxInserts(made, routes: routes) { _ = try await connection.query(query, logger: logger).collect() }
                _ = try await connection.query("COMMIT", logger: logger).collect()
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger).collect()
                throw error
            }
        }
    }

    /// One INSERT per event, one row per hook that takes it.
    static func outboxInserts(_ events: [WebhookEvent], routes: WebhookRoutes) -> [PostgresQuery] {
        events.compactMap { event in
            let hooks = routes.hooks(for: event.type, room: event.room)
            guard !hooks.isEmpty else { return nil }
            return """
                INSERT INTO chatd_webhook_outbox (hook, event_id, type, room, body, created_at, next_at)
                SELECT h, \(event.id), \(event.type.rawValue), \(event.room), \(event.body), \(event.at), \(event.at)
                FROM unnest(\(hooks)::text[]) AS h ORDER BY h
                """
        }
    }

    /// The JSON of a message event built in SQL from a row `m` of the inserted messages
    /// (with `event_id`): the shape `WebhookEvent.message` builds in Swift.
    static func eventBody(_ type: String) -> String {
        """
        (jsonb_build_object('id', m.event_id, 'type', '\(type)', 'at', m.sent_at, 'room', m.room,
            'message', jsonb_build_object('id', m.id, 'seq', m.seq, 'room', m.room, 'from', m.sender, 'text', m.text,
                'sentAt', m.sent_at)
                || CASE WHEN m.data IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('data', m.data::jsonb) END
                || CASE WHEN m.reply_to IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('replyTo', m.reply_to) END))::text
        """
    }

    /// An edit's `message_edited` body, as `WebhookEvent.edited` writes it.
    static let editEventBody = """
        (jsonb_build_object('id', m.event_id, 'type', 'message_edited', 'at', m.sent_at, 'room', m.room,
            'edit', jsonb_build_object('seq', m.edit_of, 'id', m.edit_of_id, 'text', m.text, 'editedAt', m.sent_at,
                'by', m.sender, 'at', m.seq)))::text
        """

    public func setWebhookRoutes(_ routes: WebhookRoutes) { self.routes.withLockedValue { $0 = routes } }

    public func enqueueWebhooks(_ events: [WebhookEvent]) async throws {
        let routes = self.routes.withLockedValue { $0 }
        let queries = Self.outboxInserts(events, routes: routes)
        guard !queries.isEmpty else { return }
        try await pool.rows(queries, timeout: Self.writeTimeout) { _, _ in }
    }

    /// `FOR UPDATE SKIP LOCKED` on the heads: two nodes claiming at once take different
    /// deliveries, and a head another node holds (leased) keeps its room's later events back.
    public func claimWebhooks(hooks: [String], now: Double, leaseSeconds: Double, limit: Int) async throws -> [WebhookDelivery] {
        guard !hooks.isEmpty, limit > 0 else { return [] }
        return try await write(
            """
            WITH heads AS (
                SELECT d.id FROM chatd_webhook_outbox AS d
                WHERE d.hook = ANY(\(hooks)::text[]) AND NOT d.failed AND d.next_at <= \(now) AND d.leased_until <= \(now)
                  AND NOT EXISTS (SELECT 1 FROM chatd_webhook_outbox AS e
                                  WHERE e.hook = d.hook AND e.room = d.room AND NOT e.failed AND e.id < d.id)
                ORDER BY d.id LIMIT \(Int64(limit))
                FOR UPDATE SKIP LOCKED
            )
            UPDATE chatd_webhook_outbox AS o SET leased_until = \(now + leaseSeconds)
            FROM heads WHERE o.id = heads.id
            RETURNING o.id, o.hook, o.event_id, o.type, o.room, o.body, coalesce(o.age_from, o.created_at), o.attempts
            """
        ).map { row in
            let (id, hook, eventID, type, room, body, createdAt, attempts) =
                try row.decode((Int64, String, String, String, String, String, Double, Int32).self)
            return WebhookDelivery(
                row: id, hook: hook, eventID: eventID, type: type, room: room, body: body, createdAt: createdAt, attempts: Int(attempts))
        }
    }

    public func settleWebhook(row: Int64, _ settlement: WebhookSettlement) async throws {
        switch settlement {
        case .delivered:
            _ = try await write("DELETE FROM chatd_webhook_outbox WHERE id = \(row)")
        case let .retry(at, error):
            _ = try await write(
                """
                UPDATE chatd_webhook_outbox SET attempts = attempts + 1, next_at = \(at), leased_until = 0, last_error = \(error)
                WHERE id = \(row)
                """)
        case let .failed(error):
            _ = try await write(
                """
                UPDATE chatd_webhook_outbox SET attempts = attempts + 1, failed = true, leased_until = 0, last_error = \(error)
                WHERE id = \(row)
                """)
        }
    }

    public func webhookBacklog() async throws -> [String: WebhookBacklog] {
        var out: [String: WebhookBacklog] = [:]
        for row in try await read(
            """
            SELECT hook, count(*) FILTER (WHERE NOT failed), count(*) FILTER (WHERE failed), min(coalesce(age_from, created_at)) FILTER (WHERE NOT failed),
                   (SELECT last_error FROM chatd_webhook_outbox AS e WHERE e.hook = o.hook AND e.last_error IS NOT NULL
                    ORDER BY e.id DESC LIMIT 1)
            FROM chatd_webhook_outbox AS o GROUP BY hook
            """)
        {
            let (hook, pending, failed, oldest, lastError) = try row.decode((String, Int64, Int64, Double?, String?).self)
            out[hook] = WebhookBacklog(pending: Int(pending), failed: Int(failed), oldestPendingAt: oldest, lastError: lastError)
        }
        return out
    }

    public func retryWebhooks(hook: String, now: Double) async throws -> Int {
        let rows = try await write(
            """
            WITH r AS (
                UPDATE chatd_webhook_outbox SET failed = false, attempts = 0, age_from = \(now), next_at = \(now), leased_until = 0
                WHERE hook = \(hook) AND failed RETURNING 1
            )
            SELECT count(*) FROM r
            """)
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }
}
