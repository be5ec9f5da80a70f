import ChatCore
import ChatStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Enforces each room's retention policy, and `retention.audit_max_age_hours` on the audit
/// log (and drops expired mutes and bans), one pass at a time, in transactions of at most `batch` rows, so message commits
/// (and so delivery) wait at most for one short delete.
final class RetentionJob: Sendable {
    static let batch = 1000
    static let longestInterval: Double = 86400
    /// Ages are clamped to this many hours (over 100,000 years) before they become times.
    static let longestAgeHours: Double = 1e9

    private let hub: Hub
    private let settings: SettingsBox
    private let logger: Logger
    private let passes = SerialWorker()
    private let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(hub: Hub, settings: SettingsBox, logger: Logger) {
        self.hub = hub
        self.settings = settings
        self.logger = logger
    }

    func start() {
        let task = Task { [self] in
            while !Task.isCancelled {
                // Read again before every wait: a reload may change it. Validation allows any
                // positive interval; past a day the job simply runs daily.
                let interval = min(settings.current.config.retention.intervalSeconds, Self.longestInterval)
                do { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) } catch { return }
                _ = await passes.run { await self.pass() }
            }
        }
        timer.withLockedValue { $0 = task }
    }

    func stop() {
        timer.withLockedValue { $0?.cancel() }
    }

    /// One pass now (never beside a timed pass); returns how many expired.
    @discardableResult
    func runNow() async -> Int { await passes.run { await self.pass() } }

    /// One pass over every room; returns how many messages expired.
    @discardableResult
    private func pass() async -> Int {
        guard let store = hub.store else { return 0 }
        let retention = settings.current.config.retention
        var total = 0
        do {
            for room in try await store.rooms() {
                let policy = retention.policy(for: room)
                if policy.isUnlimited { continue }
                let sentBefore =
                    policy.maxAgeHours > 0
                    ? Timestamp.iso8601(millisecondsSinceEpoch: Int64(Self.cutoff(ageHours: policy.maxAgeHours) * 1000))
                    : nil
                var upTo: UInt64 = 0
                while true {
                    let (count, last) = try await store.expire(
                        room: room, keepLast: policy.maxMessages > 0 ? policy.maxMessages : nil,
                        sentBefore: sentBefore, batch: Self.batch)
                    total += count
                    upTo = max(upTo, last)
                    if count < Self.batch { break }
                }
                if upTo > 0 { hub.expireFromWindow(room: room, upTo: upTo) }
            }
        } catch {
            logger.error("retention job failed: \(error)")
        }
        if total > 0 {
            hub.metrics.messagesExpired.increment(by: Int64(total))
            logger.info("retention: expired \(total) messages")
        }
        await pruneAudit(store, maxAgeHours: retention.auditMaxAgeHours)
        // Reading them deletes the mutes and bans that expired (`ChatStore.restrictions`).
        do {
            _ = try await store.restrictions(now: Date().timeIntervalSince1970)
        } catch {
            logger.error("retention job failed on mutes and bans: \(error)")
        }
        return total
    }

    /// Deletes audit entries older than `maxAgeHours` (0 keeps them), a batch per transaction.
    private func pruneAudit(_ store: any ChatStore, maxAgeHours: Double) async {
        guard maxAgeHours > 0 else { return }
        let before = Self.cutoff(ageHours: maxAgeHours)
        var total = 0
        do {
            while true {
                let count = try await store.expireAudit(before: before, batch: Self.batch)
                total += count
                if count < Self.batch { break }
            }
        } catch {
            logger.error("retention job failed on the audit log: \(error)")
        }
        if total > 0 { logger.info("retention: deleted \(total) audit entries older than \(maxAgeHours) hours") }
    }

    /// Seconds since 1970 before which something `ageHours` old was made; never before 1970,
    /// so that any age validation lets through stays a representable time.
    static func cutoff(ageHours: Double, now: Double = Date().timeIntervalSince1970) -> Double {
        max(0, now - min(ageHours, longestAgeHours) * 3600)
    }
}
