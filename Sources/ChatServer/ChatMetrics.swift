import ChatCluster
import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// chatd's metrics, made through swift-metrics' API with a Prometheus factory of chatd's
/// own (one registry per server, so that tests can run many servers in one process).
/// Hot paths count per broadcast and per event-loop batch, never per delivered frame.
final class ChatMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    let connections: CoreMetrics.Meter
    let messagesReceived: CoreMetrics.Counter
    let messagesDelivered: CoreMetrics.Counter
    let messagesDropped: CoreMetrics.Counter
    let rateLimited: CoreMetrics.Counter
    let messagesExpired: CoreMetrics.Counter
    let fanoutLatency: CoreMetrics.Timer
    let eventLoopLag: CoreMetrics.Timer
    /// From a webhook event happening to its delivery.
    let webhookLag: CoreMetrics.Timer
    /// Members closed for falling behind in `disconnect` rooms.
    let slowDisconnects: CoreMetrics.Counter
    /// Events the server published into rooms (API, chatctl).
    let published: CoreMetrics.Counter
    /// In a cluster: deliveries that had to read messages from the table first (their
    /// notification was too large, lost, or came before an earlier one).
    let clusterGapReads: CoreMetrics.Counter
    /// In a cluster: the bus's state, read at each scrape into the gauges below.
    let cluster = NIOLockedValueBox<(@Sendable () -> ClusterStatus)?>(nil)
    private let reconnectsSeen = NIOLockedValueBox(0)

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let fine: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5),
        ]
        factory.defaultDurationHistogramBuckets = fine
        self.factory = factory
        connections = CoreMetrics.Meter(label: "chatd_connections", factory: factory)
        messagesReceived = CoreMetrics.Counter(label: "chatd_messages_received_total", factory: factory)
        messagesDelivered = CoreMetrics.Counter(label: "chatd_messages_delivered_total", factory: factory)
        messagesDropped = CoreMetrics.Counter(label: "chatd_messages_dropped_total", factory: factory)
        rateLimited = CoreMetrics.Counter(label: "chatd_rate_limited_total", factory: factory)
        messagesExpired = CoreMetrics.Counter(label: "chatd_messages_expired_total", factory: factory)
        fanoutLatency = CoreMetrics.Timer(label: "chatd_fanout_latency_seconds", factory: factory)
        eventLoopLag = CoreMetrics.Timer(label: "chatd_event_loop_lag_seconds", factory: factory)
        webhookLag = CoreMetrics.Timer(label: "chatd_webhook_lag_seconds", factory: factory)
        slowDisconnects = CoreMetrics.Counter(label: "chatd_slow_consumer_disconnects_total", factory: factory)
        published = CoreMetrics.Counter(label: "chatd_published_total", factory: factory)
        clusterGapReads = CoreMetrics.Counter(label: "chatd_cluster_gap_reads_total", factory: factory)
        // Labelled series exist from the start, at zero, so dashboards see them.
        for result in ["accepted", "404", "405", "426", "403", "401", "400"] { upgrades(result) }
        for result in ["ok", "failed"] { reloads(result) }
        for status in ["200", "400", "401", "403", "404", "405", "413"] { publishRequests(status) }
    }

    @discardableResult
    func upgrades(_ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_upgrades_total", dimensions: [("result", result)], factory: factory)
    }

    /// Questions to the application's backend: `kind` connect or publish; `outcome` admit,
    /// refuse or unavailable (connect), accept, rewrite, reject or unavailable (publish).
    @discardableResult
    func proxyRequests(_ kind: String, _ outcome: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_proxy_requests_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory)
    }

    /// Webhook delivery attempts by hook: `delivered`, `retried` (to be tried again) or
    /// `failed` (past `max_age_seconds`, kept as failed).
    @discardableResult
    func webhookDeliveries(_ hook: String, _ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_webhook_deliveries_total", dimensions: [("hook", hook), ("result", result)], factory: factory)
    }

    @discardableResult
    func errors(_ code: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_errors_total", dimensions: [("code", code)], factory: factory)
    }

    @discardableResult
    func reloads(_ result: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_reloads_total", dimensions: [("result", result)], factory: factory)
    }

    @discardableResult
    func publishRequests(_ status: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "chatd_publish_requests_total", dimensions: [("status", status)], factory: factory)
    }

    func text() -> [UInt8] {
        if let status = cluster.withLockedValue({ $0 })?() { record(status) }
        return registry.emitToBuffer()
    }

    private func record(_ status: ClusterStatus) {
        CoreMetrics.Gauge(label: "chatd_cluster_database_up", factory: factory).record(status.databaseConnected ? 1 : 0)
        CoreMetrics.Gauge(label: "chatd_cluster_listener_up", factory: factory).record(status.listening ? 1 : 0)
        CoreMetrics.Gauge(label: "chatd_cluster_listener_lag_seconds", factory: factory).record(status.lagSeconds ?? 0)
        CoreMetrics.Gauge(label: "chatd_cluster_peers", factory: factory).record(status.peers.count)
        let new = reconnectsSeen.withLockedValue { seen in
            defer { seen = status.reconnects }
            return status.reconnects - seen
        }
        CoreMetrics.Counter(label: "chatd_cluster_listener_reconnects_total", factory: factory).increment(by: Int64(max(0, new)))
    }
}
