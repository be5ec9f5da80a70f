import ChatControl
import ChatCore
import NIOHTTP1

/// The admin API's GET endpoints: the control socket's reports, as JSON objects.
extension AdminAPI {
    struct Rooms: Encodable { var rooms: [RoomInfo] }
    struct Connections: Encodable {
        var connections: [ConnectionInfo]
        /// How many there are in all; `truncated` when more than are listed.
        var total: Int
        var truncated: Bool
    }
    struct Audit: Encodable {
        /// Newest first.
        var entries: [AuditEntry]
        /// How many of the newest entries were searched.
        var searched: Int
    }
    struct Webhooks: Encodable { var webhooks: [WebhookInfo] }
    struct Series: Encodable {
        var intervalSeconds: Double
        var capacity: Int
        /// Oldest first.
        var samples: [MetricSeries.Sample]
    }

    static func read(_ request: Request, server: ChatServer) async -> Answer {
        let parameters = request.parameters
        let known: Set<String> =
            switch request.endpoint {
            case .connections: ["room"]
            case .audit: ["limit", "action", "actor", "room"]
            default: []
            }
        if let unknown = parameters.keys.sorted().first(where: { !known.contains($0) }) {
            let takes = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            return failure(.badRequest, "unknown parameter \(unknown) (this endpoint takes \(takes))")
        }
        switch request.endpoint {
        case .status:
            return encoded(StatusInfo(server.status()))
        case .rooms:
            return encoded(Rooms(rooms: server.rooms().map(RoomInfo.init).sorted { $0.name < $1.name }))
        case .connections:
            let room = parameters["room"].flatMap { $0.isEmpty ? nil : $0 }
            if let room, !Sanitize.isValidRoom(room) { return failure(.badRequest, "not a room name: \(room)") }
            let all = await server.connections(room: room)
            return encoded(
                Connections(
                    connections: all.prefix(AdminPolicy.maxConnections).map(ConnectionInfo.init), total: all.count,
                    truncated: all.count > AdminPolicy.maxConnections))
        case .audit:
            let filter: AuditFilter
            switch AuditFilter.parse(parameters) {
            case let .success(parsed): filter = parsed
            case let .failure(refusal): return failure(refusal)
            }
            do {
                let recent = try await server.core.moderation.recentAudit(limit: AuditFilter.searched)
                return encoded(Audit(entries: filter.apply(recent), searched: recent.count))
            } catch {
                return failure(.serviceUnavailable, "the audit log cannot be read: \(error)")
            }
        case .webhooks:
            guard let dispatcher = server.webhooks else { return failure(.serviceUnavailable, "no history store") }
            do {
                return encoded(Webhooks(webhooks: try await dispatcher.report()))
            } catch {
                return failure(.serviceUnavailable, "the webhook outbox cannot be read: \(error)")
            }
        case .series:
            let series = server.core.series.withLockedValue { $0 }
            return encoded(Series(intervalSeconds: series.interval, capacity: series.capacity, samples: series.samples))
        case .actions:
            return failure(.methodNotAllowed, "use POST")
        }
    }
}
