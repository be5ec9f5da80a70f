import Dispatch
import Foundation

/// POSIX signals as events, through Dispatch signal sources (the handlers run on a queue,
/// not in signal context). `ignoreAll` runs first thing in main, so that a SIGHUP that
/// arrives before the handlers exist does not kill chatd (its default action would).
final class Signals: @unchecked Sendable {
    private let queue = DispatchQueue(label: "chatd.signals")
    private var sources: [any DispatchSourceSignal] = []  // touched only on `queue` and in init

    static func ignoreAll(_ signals: [Int32]) {
        for number in signals { signal(number, SIG_IGN) }
    }

    /// Calls `handler` on every delivery of each of `signals`.
    init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        queue.sync {
            for source in sources { source.cancel() }
            sources.removeAll()
        }
    }
}
