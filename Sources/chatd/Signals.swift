import ChatServer
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the configuration; the first SIGINT or SIGTERM stops chatd gracefully
/// (clients get 1001 and a drain), a second one exits at once. chatd's first part, so the
/// last to stop: a second signal still works while the others drain.
struct SignalHandling: Service {
    let server: ChatServer
    let logger: Logger

    /// Run first thing in main: until the handlers exist, a SIGHUP must not kill chatd
    /// (its default action would).
    static func ignoreHangUps() {
        signal(SIGHUP, SIG_IGN)
    }

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigint, .sigterm)
        var stopping = false
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sighup {
                if stopping {
                    logger.notice("SIGHUP ignored: stopping")
                } else {
                    Task { _ = await server.reload() }
                }
            } else if stopping {
                logger.warning("second stop signal: exiting now")
                server.removeControlSocketFile()
                exit(ExitStatus.failure)
            } else {
                stopping = true
                logger.notice("stopping on signal \(signal): closing clients with 1001")
                Task { try? await server.shutdown() }
            }
        }
    }
}
