import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Where to connect and as whom.
struct Target: Sendable {
    var host: String
    var port: Int
    var token: String
    var origin: String
    /// Local addresses 127.0.0.1 … 127.0.0.N: each has its own ephemeral ports, which is
    /// what lets one machine hold more than ~28k connections to one server port.
    var sources: Int
    /// Another node of a cluster for every member but each room's first (its sender), so
    /// that deliveries cross nodes; nil: everyone on `port`.
    var memberPort: Int?
    var membersPerRoom = 1
    /// Offer permessage-deflate.
    var deflate = false

    func port(for index: Int) -> Int {
        guard let memberPort, index % membersPerRoom != 0 else { return port }
        return memberPort
    }

    func source(_ index: Int) -> SocketAddress? {
        guard sources > 1 else { return nil }
        return try? SocketAddress(ipAddress: "127.0.0.\(1 + index % sources)", port: 0)
    }

    func chatTarget(room: String, name: String) -> String {
        "/chat?token=\(token)&name=\(name)&room=\(room)"
    }
}

/// Opens benchmark connections with a bounded number of handshakes in flight.
final class Connector: Sendable {
    let group: MultiThreadedEventLoopGroup
    let target: Target

    init(group: MultiThreadedEventLoopGroup, target: Target) {
        self.group = group
        self.target = target
    }

    /// Connects and waits for the upgrade; `events` sees everything after it.
    func open(index: Int, room: String, name: String, events: BenchConnection.Events) async throws -> any Channel {
        let upgraded = group.next().makePromise(of: Void.self)
        var events = events
        let report = events.upgraded
        events.upgraded = { result in
            report(result)
            upgraded.completeWith(result.mapError { $0 as any Error })
        }
        let target = self.target
        let port = target.port(for: index)
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { [events] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        BenchConnection(
                            host: target.host, port: port, target: target.chatTarget(room: room, name: name),
                            origin: target.origin, deflate: target.deflate, events: events))
                }
            }
        if let source = target.source(index) { bootstrap = bootstrap.bind(to: source) }
        let channel = try await bootstrap.connect(host: target.host, port: port).get()
        try await upgraded.futureResult.get()
        return channel
    }

    /// A TCP connection only (no upgrade), from the source address of `index`.
    func openRaw(index: Int) async throws -> any Channel {
        var bootstrap = ClientBootstrap(group: group)
        if let source = target.source(index) { bootstrap = bootstrap.bind(to: source) }
        return try await bootstrap.connect(host: target.host, port: target.port).get()
    }

    /// Opens `count` connections, at most `inFlight` handshakes at a time.
    func openMany(
        count: Int, inFlight: Int = 128, raw: Bool = false, room: @escaping @Sendable (Int) -> String,
        events: @escaping @Sendable (Int) -> BenchConnection.Events
    ) async throws -> [any Channel] {
        try await withThrowingTaskGroup(of: (Int, any Channel).self) { tasks in
            var channels = [(any Channel)?](repeating: nil, count: count)
            var next = 0
            func add() {
                let index = next
                next += 1
                tasks.addTask {
                    if raw { return (index, try await self.openRaw(index: index)) }
                    return (index, try await self.open(index: index, room: room(index), name: "b\(index)", events: events(index)))
                }
            }
            while next < min(inFlight, count) { add() }
            while let (index, channel) = try await tasks.next() {
                channels[index] = channel
                if next < count { add() }
            }
            return channels.map { $0! }
        }
    }
}

/// A counter the event loops bump and the scenario reads.
final class Counter: Sendable {
    private let value = NIOLockedValueBox<Int>(0)
    func add(_ n: Int = 1) { value.withLockedValue { $0 += n } }
    var current: Int { value.withLockedValue { $0 } }
}

/// Latency samples in nanoseconds.
final class Samples: Sendable {
    private let values = NIOLockedValueBox<[UInt64]>([])
    func add(_ v: UInt64) { values.withLockedValue { $0.append(v) } }
    func take() -> [UInt64] {
        values.withLockedValue { values in
            let taken = values
            values.removeAll()
            return taken
        }
    }
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1e6
}
