import ChatCore
import PostgresNIO

/// The statement that appends a room's part of a batch: numbers, rows, changes, the
/// notification and the webhook outbox, in one transaction.
extension PostgresStore {
    /// Messages go into a room's notifications in parts of about this many bytes (counted
    /// roughly: text, data and 200 for the rest of each), so that a large batch is sent as
    /// several notifications that fit rather than one range the other nodes must read from
    /// the table. A part that still does not fit (long texts, escaping) is sent as its range.
    static let partBytes = 3900

    static func appendQuery(
        room: String, count: Int, json: String, node: String, checksNonces: Bool = false, hooks: [String] = [],
        editHooks: [String] = [], deleteHooks: [String] = [], at: Double = 0, hasReactions: Bool = false,
        hasDeletions: Bool = false
    ) -> PostgresQuery {
        let limit = payloadLimit
        let part = Int64(partBytes)
        // Batches without a nonce keep the statement they always had: no filter, no renumbering.
        // With one, a message whose nonce its author already used in the room is left out before
        // numbers are taken, so it leaves no gap. Two nodes inserting the same nonce at once both
        // pass that test: the unique index then skips the later one (a gap of one number), which
        // comes back without a row and is answered as a duplicate, instead of failing the batch.
        let check =
            checksNonces
            ? """
            WHERE x.j->>'nonce' IS NULL OR NOT EXISTS (
                SELECT 1 FROM chatd_message m
                WHERE m.room = x.j->>'room' AND m.author = x.j->>'author' AND m.nonce = x.j->>'nonce')
            """ : ""
        let conflict = checksNonces ? "ON CONFLICT (room, author, nonce) WHERE nonce IS NOT NULL DO NOTHING" : ""
        // The webhook outbox rows are written by the same statement, so in the same
        // transaction as the messages (a data-modifying WITH runs whether read or not); with
        // no hook for the room the array is empty and no row is made. Duplicates are not in
        // `ins`, so they make no event.
        let body = eventBody("message")
        let editBody = editEventBody
        // Only batches with reaction changes change reactions; the others keep their statement.
        let reactions = (hasReactions ? reactionSteps : "") + (hasDeletions ? deletionSteps : "")
        let counts = hasReactions ? "(SELECT k.j FROM counts k WHERE k.seq = (e.j->>'editOf')::bigint)" : "NULL"
        return """
            WITH e AS (
                SELECT x.j, \(unescaped: checksNonces ? "row_number() OVER (ORDER BY x.ord)" : "x.ord") AS ord
                FROM jsonb_array_elements(\(json)::jsonb) WITH ORDINALITY AS x(j, ord)
                \(unescaped: check)
            ), c AS (
                SELECT count(*) AS n FROM e
            ), s AS (
                INSERT INTO chatd_room_sequence AS r (room, last_seq) SELECT \(room), c.n FROM c
                ON CONFLICT (room) DO UPDATE SET last_seq = r.last_seq + excluded.last_seq
                RETURNING last_seq
            ), rm AS (
                SELECT \(room)::text AS room, \(deleteHooks)::text[] AS delete_hooks
            )\(unescaped: reactions), ins AS (
                INSERT INTO chatd_message (room, seq, id, sender, text, sent_at, author, data, nonce, reply_to, edit_of, edit_of_id,
                                           previous, reaction, added, reactions, deletion)
                -- A change of a message already gone is stored, and sent, as a deletion of it that
                -- holds nothing of the change (`ChatMessage.gone`).
                SELECT \(room), s.last_seq - c.n + e.ord, e.j->>'id', CASE WHEN e.gone THEN '' ELSE e.j->>'from' END,
                       CASE WHEN e.gone THEN '' ELSE e.j->>'text' END, e.j->>'sentAt',
                       CASE WHEN e.gone THEN '' ELSE e.j->>'author' END, e.j->>'data', e.j->>'nonce', (e.j->>'replyTo')::bigint,
                       (e.j->>'editOf')::bigint, e.j->>'editOfID',
                       (SELECT t.text FROM chatd_message t
                        WHERE t.room = \(room) AND t.seq = (e.j->>'editOf')::bigint AND t.edit_of IS NULL AND e.j->>'reaction' IS NULL),
                       CASE WHEN e.gone THEN NULL ELSE e.j->>'reaction' END, CASE WHEN e.gone THEN NULL ELSE (e.j->>'added')::boolean END,
                       CASE WHEN e.j->>'reaction' IS NOT NULL AND NOT e.gone THEN \(unescaped: counts) END,
                       CASE WHEN e.gone THEN true ELSE (e.j->>'deletion')::boolean END
                FROM s, c, (
                    SELECT e.*, CASE WHEN e.j->>'editOf' IS NULL OR coalesce((e.j->>'deletion')::boolean, false) THEN false
                                     ELSE NOT EXISTS (SELECT 1 FROM chatd_message t
                                                      WHERE t.room = \(room) AND t.seq = (e.j->>'editOf')::bigint
                                                        AND t.edit_of IS NULL) END AS gone
                    FROM e) AS e
                \(unescaped: conflict)
                RETURNING seq, id, sender, text, sent_at, author, data, reply_to, edit_of, edit_of_id, reaction, added, reactions,
                          deletion
            ), edited AS (
                -- The statement's snapshot is from before it: the last edit of a message in the
                -- batch gives it its text.
                UPDATE chatd_message t SET text = u.text, edited_at = u.sent_at
                FROM (SELECT DISTINCT ON (edit_of) edit_of, text, sent_at FROM ins
                      WHERE edit_of IS NOT NULL AND reaction IS NULL AND deletion IS NULL
                      ORDER BY edit_of, seq DESC) u
                WHERE t.room = \(room) AND t.seq = u.edit_of AND t.edit_of IS NULL
            ), parts AS (
                SELECT *, (sum(octet_length(text) + coalesce(octet_length(data), 0) + 200) OVER (ORDER BY seq)) / \(part) AS part
                FROM ins
            ), p AS (
                SELECT min(seq) AS first,
                       json_build_object('k', 'm', 'n', \(node)::text, 'r', \(room)::text, 'a', min(seq), 'b', max(seq),
                           -- Without the keys a plain message leaves null: the parts' size budget is for messages.
                           'm', json_agg(json_strip_nulls(json_build_object('seq', seq, 'id', id, 'from', sender, 'text', text,
                                'sentAt', sent_at, 'author', author, 'data', data, 'replyTo', reply_to, 'editOf', edit_of,
                                'editOfID', edit_of_id, 'reaction', reaction, 'added', added, 'reactions', reactions,
                                'deletion', deletion))
                                ORDER BY seq))::text AS whole,
                       json_build_object('k', 'm', 'n', \(node)::text, 'r', \(room)::text, 'a', min(seq), 'b', max(seq))::text AS range
                FROM parts GROUP BY part
            ), sent AS (
                SELECT pg_notify(\(channel), CASE WHEN octet_length(whole) <= \(limit) THEN whole ELSE range END)
                FROM (SELECT * FROM p ORDER BY first) AS ordered
            ), hooked AS (
                INSERT INTO chatd_webhook_outbox (hook, event_id, type, room, body, created_at, next_at)
                -- Reactions are not told to webhooks.
                SELECT h.hook, m.event_id, CASE WHEN m.edit_of IS NULL THEN 'message' ELSE 'message_edited' END, m.room,
                       CASE WHEN m.edit_of IS NULL THEN \(unescaped: body) ELSE \(unescaped: editBody) END, m.at, m.at
                FROM (SELECT ins.*, \(room)::text AS room, gen_random_uuid()::text AS event_id,
                             coalesce(extract(epoch FROM ins.sent_at::timestamptz)::double precision, \(at)) AS at FROM ins) AS m
                CROSS JOIN LATERAL unnest(CASE WHEN m.edit_of IS NULL THEN \(hooks)::text[]
                                               WHEN m.reaction IS NULL AND m.deletion IS NULL THEN \(editHooks)::text[]
                                               ELSE '{}'::text[] END) AS h(hook)
                ORDER BY m.seq, h.hook
            )
            SELECT ins.seq, ins.id, ins.reactions, coalesce(ins.deletion, false) FROM ins, (SELECT count(*) FROM sent) AS notified
            ORDER BY ins.seq
            """
    }

    /// A deletion removes its message with the message's changes and reactions, rows the
    /// statement found (the deletion's own row, inserted by it, is not among them), and
    /// writes the `message_deleted` event of the message as it was.
    static var deletionSteps: String {
        let r = "(SELECT room FROM rm)"
        let body = eventBody("message_deleted")
        return """
            , gone AS (
                DELETE FROM chatd_message t USING e
                WHERE (e.j->>'deletion')::boolean AND t.room = \(r)
                  AND (t.seq = (e.j->>'editOf')::bigint OR t.edit_of = (e.j->>'editOf')::bigint)
                RETURNING t.seq, t.id, t.sender, t.text, t.sent_at, t.author, t.data, t.reply_to, t.edit_of
            ), gone_reactions AS (
                DELETE FROM chatd_reaction g USING e
                WHERE (e.j->>'deletion')::boolean AND g.room = \(r) AND g.seq = (e.j->>'editOf')::bigint
            ), gone_hooked AS (
                INSERT INTO chatd_webhook_outbox (hook, event_id, type, room, body, created_at, next_at)
                SELECT h.hook, m.event_id, 'message_deleted', m.room,
                       (\(body)::jsonb || jsonb_build_object('seq', m.seq,
                            'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text,
                       extract(epoch FROM now())::double precision, extract(epoch FROM now())::double precision
                FROM (SELECT gone.*, \(r) AS room, gen_random_uuid()::text AS event_id FROM gone WHERE gone.edit_of IS NULL) AS m
                CROSS JOIN unnest((SELECT delete_hooks FROM rm)) AS h(hook)
            )
            """
    }

    /// A reaction change adds or removes its author's row in `chatd_reaction`; the counts it
    /// leaves are the table as the statement found it plus what the statement changed (its
    /// own changes are invisible to it), in the order of first use (the rows' ids). They go
    /// onto the message row, and onto each change's row and notification (`counts`).
    static var reactionSteps: String {
        // The room as the statement binds it (`rm`): nothing of it is written into the SQL.
        let r = "(SELECT room FROM rm)"
        return """
            , rx AS (
                SELECT (e.j->>'editOf')::bigint AS seq, e.j->>'reaction' AS emoji, e.j->>'author' AS reactor,
                       (e.j->>'added')::boolean AS added
                FROM e WHERE e.j->>'reaction' IS NOT NULL
                  AND EXISTS (SELECT 1 FROM chatd_message t
                              WHERE t.room = \(r) AND t.seq = (e.j->>'editOf')::bigint AND t.edit_of IS NULL)
            ), r_ins AS (
                INSERT INTO chatd_reaction (room, seq, emoji, reactor) SELECT \(r), seq, emoji, reactor FROM rx WHERE added
                ON CONFLICT DO NOTHING RETURNING seq, emoji, id
            ), r_del AS (
                DELETE FROM chatd_reaction d USING rx
                WHERE NOT rx.added AND d.room = \(r) AND d.seq = rx.seq AND d.emoji = rx.emoji AND d.reactor = rx.reactor
                RETURNING d.seq, d.emoji
            ), r_before AS (
                SELECT b.seq, b.emoji, count(*) AS n, min(b.id) AS first FROM chatd_reaction b
                WHERE b.room = \(r) AND b.seq IN (SELECT seq FROM rx) GROUP BY b.seq, b.emoji
            ), r_delta AS (
                SELECT seq, emoji, sum(d) AS d, min(first) AS first FROM (
                    SELECT seq, emoji, 1 AS d, id AS first FROM r_ins
                    UNION ALL SELECT seq, emoji, -1, NULL::bigint FROM r_del) x
                GROUP BY seq, emoji
            ), r_after AS (
                SELECT coalesce(b.seq, d.seq) AS seq, coalesce(b.emoji, d.emoji) AS emoji,
                       coalesce(b.n, 0) + coalesce(d.d, 0) AS n, least(b.first, d.first) AS first
                FROM r_before b FULL JOIN r_delta d ON b.seq = d.seq AND b.emoji = d.emoji
            ), counts AS (
                SELECT t.seq, (SELECT json_agg(json_build_array(a.emoji, a.n) ORDER BY a.first)::text
                               FROM r_after a WHERE a.seq = t.seq AND a.n > 0) AS j
                FROM (SELECT DISTINCT seq FROM rx) t
            ), reacted AS (
                UPDATE chatd_message m SET reactions = counts.j FROM counts
                WHERE m.room = \(r) AND m.seq = counts.seq AND m.edit_of IS NULL
            )
            """
    }
}
