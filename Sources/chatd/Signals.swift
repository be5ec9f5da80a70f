import Dispatch
import Foundation

/// POSIX signals as awaited events, through Dispatch signal sources (the handlers run on a
/// queue, not in signal context).
enum Signals {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Waits for the first of `signals` and returns it.
    static func next(_ signals: [Int32]) async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let once = Once()
            for number in signals {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if once.take() { continuation.resume(returning: number) }
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// After this, any of `signals` ends the process immediately with status 1.
    static func exitOnNext(_ signals: [Int32]) {
        for source in sources { source.cancel() }
        sources.removeAll()
        for number in signals {
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { _exit(1) }
            source.resume()
            sources.append(source)
        }
    }
}

private final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}
