import ChatCore
import ChatStore
import NIOConcurrencyHelpers

/// Hands the webhook events that nothing stored stands behind (joins, leaves, occupancy) to
/// the outbox off the event loops, in the order they happened, gathered into one write per
/// turn as the committer gathers messages. A flood beyond `limit` waiting events drops the
/// newest (counted), so that a reconnect storm against a slow disk cannot grow memory
/// without bound; these events are told at least once only once they are in the outbox.
final class WebhookEnqueuer: Sendable {
    private let store: any ChatStore
    private let metrics: ChatMetrics
    private let waiting = NIOLockedValueBox<(events: [WebhookEvent], draining: Bool)>(([], false))
    /// Which hooks take which events, as the store has them (set with it at start and reload).
    let routes = NIOLockedValueBox(WebhookRoutes())
    static let limit = 100_000

    init(store: any ChatStore, metrics: ChatMetrics) {
        self.store = store
        self.metrics = metrics
    }

    /// True when some hook takes `type` (so that nothing is built for none).
    func wants(_ type: WebhookEventType) -> Bool { routes.withLockedValue { $0.wants(type) } }

    func add(_ events: [WebhookEvent]) {
        guard !events.isEmpty else { return }
        let start = waiting.withLockedValue { w -> Bool? in
            guard w.events.count < Self.limit else { return nil }
            w.events.append(contentsOf: events)
            if w.draining { return false }
            w.draining = true
            return true
        }
        guard let start else { return metrics.errors("webhook_events_dropped").increment(by: Int64(events.count)) }
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch = waiting.withLockedValue { w -> [WebhookEvent] in
                let batch = w.events
                w.events.removeAll(keepingCapacity: true)
                if batch.isEmpty { w.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try await store.enqueueWebhooks(batch)
            } catch {
                metrics.errors("webhook_events_dropped").increment(by: Int64(batch.count))
            }
        }
    }
}
