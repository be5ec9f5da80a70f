import ChatControl
import ChatCore
import ChatStore
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Delivers the webhook outbox (`[webhooks.NAME]`): takes the due head of each hook's room
/// queues from the store (leased, so another node does not take it too), posts each signed,
/// and records the outcome. A room's events go out one at a time, in order; rooms and hooks
/// go out side by side. Runs as one part of chatd's lifecycle; what it has not delivered
/// when chatd stops (or is killed) stays in the outbox for the next start, or another node.
final class WebhookDispatcher: Sendable {
    private let store: any ChatStore
    private let backend: BackendClient
    private let settings: SettingsBox
    private let metrics: ChatMetrics
    private let logger: Logger
    /// Per hook, for `chatctl webhooks`: this node's last success and last failure.
    private let outcomes = NIOLockedValueBox<[String: (success: Double?, failure: Double?, error: String?)]>([:])

    /// Deliveries in flight at once, and for one hook; each room gives at most its head.
    static let batch = 64
    static let perHook = 16
    /// How long the dispatcher waits with nothing due.
    static let idle: Duration = .milliseconds(200)

    /// `backend` is the dispatcher's own client: its connections are not the proxies', so a
    /// slow events endpoint never makes users wait to connect or send.
    init(store: any ChatStore, backend: BackendClient, settings: SettingsBox, metrics: ChatMetrics, logger: Logger) {
        self.store = store
        self.backend = backend
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    /// Until cancelled. Deliveries run side by side, up to `batch` at a time and `perHook`
    /// for one hook; as each ends the next due heads are claimed, so a slow hook holds up only
    /// its own rooms' queues (a round that waited for its whole batch held every hook to its
    /// slowest, and one hook with many rooms must not take every slot).
    func run() async {
        await withTaskGroup(of: String?.self) { group in
            var inFlight: [String: Int] = [:]
            var napping = false
            var failedClaims = 0
            while !Task.isCancelled {
                let targets = settings.current.webhooks
                var claimedAny = false
                // A lease outlives the slowest hook's timeout: a delivery still in flight is
                // never taken by another node.
                let lease = (targets.values.map { Double($0.timeout.nanoseconds) / 1e9 }.max() ?? 5) + 10
                for (hook, target) in targets.sorted(by: { $0.key < $1.key }) {
                    let free = min(Self.perHook - inFlight[hook, default: 0], Self.batch - inFlight.values.reduce(0, +))
                    guard free > 0 else { continue }
                    let claimed: [WebhookDelivery]
                    do {
                        claimed = try await store.claimWebhooks(
                            hooks: [hook], now: Date().timeIntervalSince1970, leaseSeconds: lease, limit: free)
                        failedClaims = 0
                    } catch {
                        failedClaims += 1
                        if failedClaims == 1 { logger.warning("webhook outbox unreadable: \(error)") }
                        break
                    }
                    for delivery in claimed {
                        claimedAny = true
                        inFlight[hook, default: 0] += 1
                        group.addTask {
                            await self.deliver(delivery, to: target)
                            return hook
                        }
                    }
                }
                if claimedAny { continue }
                // Nothing more to take now: wait for a delivery to end or a nap to pass.
                if !napping {
                    napping = true
                    let nap = failedClaims > 0 || targets.isEmpty ? Duration.seconds(1) : Self.idle
                    group.addTask {
                        try? await Task.sleep(for: nap)
                        return nil
                    }
                }
                switch await group.next() {
                case let hook??: inFlight[hook, default: 1] -= 1
                case .some(nil): napping = false
                case nil: break
                }
            }
            group.cancelAll()
        }
    }

    /// Posts one event and records what became of it.
    private func deliver(_ delivery: WebhookDelivery, to target: WebhookTarget) async {
        let timestamp = Int64(Date().timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(
            for: WebhookSignature.signedBytes(timestamp: timestamp, body: delivery.body), using: SymmetricKey(data: target.secret))
        let headers = [
            ("X-Chatd-Event", delivery.type), ("X-Chatd-Delivery", delivery.eventID), ("X-Chatd-Timestamp", String(timestamp)),
            ("X-Chatd-Signature", WebhookSignature.header(hmac: mac)),
        ]
        let answer = await backend.post(target.url, json: Array(delivery.body.utf8), headers: headers, timeout: target.timeout)
        let now = Date().timeIntervalSince1970
        let settlement: WebhookSettlement
        switch answer {
        case let .success(answer) where (200..<300).contains(answer.status):
            settlement = .delivered
            metrics.webhookDeliveries(delivery.hook, "delivered").increment()
            metrics.webhookLag.recordNanoseconds(
                Int64(clamping: Int64(exactly: (max(0, now - delivery.createdAt) * 1e9).rounded(.down)) ?? 0))
            outcomes.withLockedValue { $0[delivery.hook, default: (nil, nil, nil)].success = now }
        case let .success(answer):
            settlement = Self.failure("answered \(answer.status)", delivery, target, now: now)
        case let .failure(failure):
            settlement = Self.failure(failure.description, delivery, target, now: now)
        }
        if case let .retry(_, error) = settlement {
            metrics.webhookDeliveries(delivery.hook, "retried").increment()
            outcomes.withLockedValue {
                $0[delivery.hook, default: (nil, nil, nil)].failure = now
                $0[delivery.hook]?.error = error
            }
        } else if case let .failed(error) = settlement {
            metrics.webhookDeliveries(delivery.hook, "failed").increment()
            outcomes.withLockedValue {
                $0[delivery.hook, default: (nil, nil, nil)].failure = now
                $0[delivery.hook]?.error = error
            }
            logger.warning(
                "webhook event kept as failed", metadata: ["hook": "\(delivery.hook)", "event": "\(delivery.eventID)", "error": "\(error)"])
        }
        // If this write fails, the lease runs out and the delivery is tried again: at least
        // once, which is why receivers de-duplicate by X-Chatd-Delivery.
        try? await store.settleWebhook(row: delivery.row, settlement)
    }

    private static func failure(_ error: String, _ delivery: WebhookDelivery, _ target: WebhookTarget, now: Double) -> WebhookSettlement {
        if WebhookRetry.expired(createdAt: delivery.createdAt, now: now, maxAgeSeconds: target.maxAgeSeconds) {
            return .failed(error: error)
        }
        let wait = WebhookRetry.delay(afterAttempts: delivery.attempts.saturatingAdd(1), random: Double.random(in: 0..<1))
        return .retry(at: now + wait, error: error)
    }

    /// Each hook's state: the outbox's counts and this node's last outcomes.
    func report() async throws -> [WebhookInfo] {
        let backlog = try await store.webhookBacklog()
        let configured = settings.current.webhooks
        let seen = outcomes.withLockedValue { $0 }
        return Set(backlog.keys).union(configured.keys).sorted().map { name in
            let counts = backlog[name] ?? WebhookBacklog()
            return WebhookInfo(
                name: name, configured: configured[name] != nil, url: configured[name]?.url, pending: counts.pending,
                failed: counts.failed, oldestPendingAt: counts.oldestPendingAt, lastSuccessAt: seen[name]?.success,
                lastFailureAt: seen[name]?.failure, lastError: seen[name]?.error ?? counts.lastError)
        }
    }
}
