import ChatCore
import NIOConcurrencyHelpers

/// Hands the webhook events that nothing stored stands behind (joins, leaves, occupancy) to
/// the committer, which writes them to the outbox in their place among the messages: a
/// member's join before the message it then sends, its leave after its last one (found by
/// review: written on a path of their own, a message could go out before its sender's join).
/// Beyond `Committer.Gathered.maxEvents` waiting, events are dropped and counted, so that a
/// reconnect storm against a slow disk cannot grow memory without bound.
final class WebhookEnqueuer: Sendable {
    private let metrics: ChatMetrics
    /// The hub's committer, set once it is made.
    let committer = NIOLockedValueBox<Committer?>(nil)
    /// Which hooks take which events, as the store has them (set with it at start and reload).
    let routes = NIOLockedValueBox(WebhookRoutes())

    init(metrics: ChatMetrics) {
        self.metrics = metrics
    }

    /// True when some hook takes `type` (so that nothing is built for none).
    func wants(_ type: WebhookEventType) -> Bool { routes.withLockedValue { $0.wants(type) } }

    func add(_ events: [WebhookEvent]) {
        guard !events.isEmpty else { return }
        guard committer.withLockedValue({ $0 })?.submit(events: events) == true else {
            return metrics.errors("webhook_events_dropped").increment(by: Int64(events.count))
        }
    }
}
