import ChatCore
import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Periodic work off the event loops: probes every loop (event-loop lag), pings systemd's
/// watchdog only while every loop answered its probe recently (a stuck loop stops the
/// pings, and systemd restarts chatd), and keeps systemd's `STATUS=` line current.
/// `@unchecked`: the Dispatch timer is not Sendable; it is only touched under `timerLock`.
final class Housekeeper: @unchecked Sendable {
    private let server: ChatServer
    private let watchdog: Duration?
    private let notify: (@Sendable (String) -> Void)?
    private let queue = DispatchQueue(label: "chatd.housekeeping")
    private let timerLock = NIOLock()
    private var timer: (any DispatchSourceTimer)?
    /// Per loop: when it last ran a probe (uptime nanoseconds).
    private let answered: NIOLockedValueBox<[UInt64]>
    private let lastStatus = NIOLockedValueBox("")
    private let ticks = NIOLockedValueBox(0)

    /// How often loops are probed: a quarter of the watchdog interval, at most once a second.
    let probeInterval: Duration

    init(server: ChatServer, watchdog: Duration?, notify: (@Sendable (String) -> Void)?) {
        self.server = server
        self.watchdog = watchdog
        self.notify = notify
        let now = NIODeadline.now().uptimeNanoseconds
        answered = NIOLockedValueBox(Array(repeating: now, count: server.core.hub.shards.count))
        probeInterval = min(watchdog.map { $0 / 4 } ?? .seconds(1), .seconds(1))
    }

    func start() {
        let source = DispatchSource.makeTimerSource(queue: queue)
        let nanos = Int(probeInterval.components.seconds) * 1_000_000_000 + Int(probeInterval.components.attoseconds / 1_000_000_000)
        source.schedule(deadline: .now(), repeating: .nanoseconds(nanos), leeway: .milliseconds(5))
        source.setEventHandler { [self] in tick() }
        timerLock.withLock { timer = source }
        source.resume()
    }

    func stop() {
        timerLock.withLock {
            timer?.cancel()
            timer = nil
        }
    }

    private func tick() {
        let shards = server.core.hub.shards
        let sentAt = NIODeadline.now()
        for (index, ref) in shards.enumerated() {
            ref.loop.execute { [self] in
                let now = NIODeadline.now()
                server.core.metrics.eventLoopLag.recordNanoseconds((now - sentAt).nanoseconds)
                answered.withLockedValue { $0[index] = now.uptimeNanoseconds }
            }
        }
        let tick = ticks.withLockedValue { t -> Int in
            t += 1
            return t
        }
        // The watchdog is pinged every second probe: at half of systemd's interval.
        if let watchdog, tick % 2 == 0 {
            let limit = UInt64(watchdog.components.seconds) * 1_000_000_000 + UInt64(watchdog.components.attoseconds / 1_000_000_000)
            let now = sentAt.uptimeNanoseconds
            let stale = answered.withLockedValue { list in
                list.enumerated().filter { now > $0.element && now - $0.element > limit / 2 }.map(\.offset)
            }
            if stale.isEmpty {
                notify?("WATCHDOG=1")
            } else {
                server.core.logger.critical("event loop stuck, withholding the watchdog ping", metadata: ["loops": "\(stale)"])
            }
        }
        if tick % 60 == 0 { server.core.limits.prune(now: sentAt.uptimeNanoseconds) }
        sampleCounters()
        if let notify {
            let line = server.statusLine()
            let changed = lastStatus.withLockedValue { last -> Bool in
                defer { last = line }
                return last != line
            }
            if changed { notify(line) }
        }
    }

    /// Every `MetricSeries.interval`: the counters the admin console charts.
    private func sampleCounters() {
        let core = server.core
        let now = Date().timeIntervalSince1970
        core.series.withLockedValue { series in
            guard series.isDue(now: now) else { return }
            series.record(
                at: now, connections: server.connectionCount, messagesIn: core.hub.messagesIn.load(ordering: .relaxed),
                messagesOut: core.hub.framesOut.load(ordering: .relaxed))
        }
    }
}
