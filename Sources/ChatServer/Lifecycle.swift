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
