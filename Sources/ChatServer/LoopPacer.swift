import NIOCore

/// Work that pipelining clients queue on one event loop — the next pipelined request, the
/// next slice of bytes a read gate holds — run from a single timer, a little at a time.
///
/// Why a timer and one per loop: NIO runs every task that is due before it polls its sockets
/// again, so work that re-schedules itself (`execute`, or a timer per connection that is due
/// again before the others are done) keeps the loop from its other connections for as long
/// as the pipelining lasts. Here each run takes what was queued before it started, stops once
/// it has spent `budget`, and arms the timer again as far out as it ran: the loop polls in
/// between, and all the pipelining on a loop together gets about half of it.
/// Touched only on its event loop.
final class LoopPacer {
    private let loop: any EventLoop
    private var queued = CircularBuffer<() -> Void>()
    private var armed = false

    /// How long one run may go on (at least one item runs).
    static let budget = TimeAmount.milliseconds(2)
    /// The least time between runs.
    static let leastGap = TimeAmount.milliseconds(1)

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ work: @escaping () -> Void) {
        queued.append(work)
        arm(after: Self.leastGap)
    }

    private func arm(after delay: TimeAmount) {
        guard !armed else { return }
        armed = true
        loop.assumeIsolated().scheduleTask(in: delay) { [self] in run() }
    }

    private func run() {
        armed = false
        let began = NIODeadline.now()
        var left = queued.count  // what was queued before this run; the rest waits for the next
        while left > 0, let work = queued.popFirst() {
            left -= 1
            work()
            if NIODeadline.now() - began >= Self.budget { break }
        }
        if !queued.isEmpty { arm(after: max(Self.leastGap, NIODeadline.now() - began)) }
    }
}
