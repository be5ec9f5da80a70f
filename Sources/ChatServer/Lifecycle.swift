import NIOConcurrencyHelpers
public import ServiceLifecycle

/// One long-lived part of chatd as a `Service`: it starts, runs until the group asks it to
/// stop (or is cancelled), then stops. The group stops parts in the reverse of their order,
/// each after the one declared after it has finished, so the order they are declared in
/// (`ChatServer.lifecycle`) is both the start order and, reversed, the stop order.
public struct Part: Service, CustomStringConvertible {
    public let description: String
    private let start: @Sendable () async throws -> Void
    private let body: (@Sendable () async -> Void)?
    private let stop: @Sendable () async -> Void

    /// A part whose work is `body` (a loop): it is cancelled when the group stops it.
    public init(_ name: String, running body: @escaping @Sendable () async -> Void) {
        description = name
        start = {}
        self.body = body
        stop = {}
    }

    /// A part that runs on its own once started (a timer, a listener) and is told to stop.
    public init(
        _ name: String, start: @escaping @Sendable () async throws -> Void = {},
        stop: @escaping @Sendable () async -> Void
    ) {
        description = name
        self.start = start
        body = nil
        self.stop = stop
    }

    public func run() async throws {
        try await start()
        if let body {
            await cancelWhenGracefulShutdown { await body() }
        } else {
            // Thrown only when the task is cancelled (the group gave up waiting): stop anyway.
            try? await gracefulShutdown()
        }
        await stop()
    }
}

/// A one-shot gate: `wait` returns once `open` has been called, at once if it already was.
final class Gate: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLockedValue { s -> Bool in
                if !s.open { s.waiters.append(continuation) }
                return s.open
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// Runs `work` in a task of its own and returns when it is done or at `deadline`, whichever
/// comes first (a task group would wait for work that ignores cancellation).
func waitAtMost(until deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Void) async {
    let (done, signal) = AsyncStream.makeStream(of: Void.self)
    Task {
        await work()
        signal.yield()
    }
    let timer = Task {
        try? await Task.sleep(until: deadline)
        signal.yield()
    }
    for await _ in done { break }
    timer.cancel()
}
