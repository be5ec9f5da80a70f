import NIOConcurrencyHelpers
import NIOCore

/// Events from the event loop to an awaiting caller, in order, with a timeout per wait.
final class Mailbox: Sendable {
    private struct State {
        var events: [ClientEvent] = []
        var waiter: (id: UInt64, continuation: CheckedContinuation<ClientEvent, any Error>)?
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func push(_ event: ClientEvent) {
        let waiter: CheckedContinuation<ClientEvent, any Error>? = state.withLockedValue { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    func next(timeout: Duration, what: String) async throws -> ClientEvent {
        try await withCheckedThrowingContinuation { continuation in
            let (ready, id): (ClientEvent?, UInt64) = state.withLockedValue { state in
                if !state.events.isEmpty { return (state.events.removeFirst(), 0) }
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return (nil, state.nextID)
            }
            if let ready {
                continuation.resume(returning: ready)
                return
            }
            let nanos = Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            loop.scheduleTask(in: .nanoseconds(nanos)) { [self] in
                let expired: CheckedContinuation<ClientEvent, any Error>? = state.withLockedValue { state in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume(throwing: ClientError.timeout(what))
            }
        }
    }
}
