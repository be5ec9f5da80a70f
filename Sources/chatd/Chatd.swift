import ArgumentParser
import ChatConfig
import ChatServer
import Dispatch
import Foundation
import Logging
import Systemd

/// chatd's exit statuses (sysexits.h, which systemd's logs name).
enum ExitStatus {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let config: Int32 = 78  // EX_CONFIG
}

@main
struct Chatd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chatd",
        abstract: "WebSocket chat and real-time push daemon.",
        discussion: """
            Signals: SIGHUP reloads the configuration; SIGINT and SIGTERM stop gracefully (clients get \
            close code 1001; a second signal exits at once). Under systemd, chatd uses sockets passed \
            with FileDescriptorName=http and =metrics, and reports READY, STATUS, RELOADING, STOPPING \
            and WATCHDOG through sd_notify.
            """,
        version: ChatdVersion.string
    )

    @Option(name: .long, help: "Path of the TOML configuration file. Without it, chatd runs on built-in defaults.")
    var config: String?

    @Flag(name: .long, help: "Validate the configuration and exit: 0 when valid, 78 with the reason when not.")
    var checkConfig = false

    func run() async throws {
        SignalHandling.ignoreHangUps()
        let environment = ProcessInfo.processInfo.environment
        let loaded: Config
        do {
            loaded = try ConfigLoader.load(path: config, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("chatd: \(error)\n".utf8))
            throw ExitCode(ExitStatus.config)
        }
        if checkConfig {
            print("chatd: configuration \(config ?? "(built-in defaults)") is valid")
            return
        }

        let underSystemd = environment["NOTIFY_SOCKET"] != nil || environment["INVOCATION_ID"] != nil
        let level = Logger.Level(rawValue: loaded.log.level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = JournalLogHandler(label: label, journalPrefixes: underSystemd)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "chatd")

        var options = ChatServer.Options(
            defaultWebRoot: StaticSiteLocator.defaultRoot(environment: environment, executablePath: CommandLine.arguments[0]))
        options.configPath = config
        options.environment = environment
        options.listenFDs = Systemd.listenFDs()
        options.watchdog = Systemd.watchdogInterval()
        options.notify = { Systemd.notify($0) }
        options.version = ChatdVersion.string
        if loaded.server.threads > 0 { options.threads = loaded.server.threads }

        let webRoot = loaded.server.webRoot ?? options.defaultWebRoot
        if let problem = Self.pageProblem(webRoot: webRoot) {
            let key = loaded.server.webRoot == nil ? "the default web root" : "server.web_root"
            logger.critical("cannot start: \(key) \(webRoot): \(problem)")
            throw ExitCode(ExitStatus.config)
        }
        let server: ChatServer
        do {
            server = try ChatServer(config: loaded, options: options, logger: logger)
        } catch let error as StartupError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(error.isConfiguration ? ExitStatus.config : ExitStatus.failure)
        } catch {
            // The cluster database (unreachable, refusing) and the history it loads.
            logger.critical("cannot start: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        do {
            _ = try await server.startAll(with: [SignalHandling(server: server, logger: logger)])
        } catch is CancellationError {
            // A stop signal came while starting (waiting for the database, say): a stop, not
            // a failure.
            logger.notice("stopped before it was ready")
            try? await server.shutdown(drain: .zero)
            return
        } catch let error as ClusterStartError {
            logger.critical("cannot start: \(error)")
            try? await server.shutdown(drain: .zero)
            throw ExitCode(ExitStatus.failure)
        } catch {
            let addresses =
                options.listenFDs.isEmpty
                ? "server.listen \(loaded.server.listen.map(\.description).joined(separator: ", "))"
                    + (loaded.metrics.listen.map { " or metrics.listen \($0)" } ?? "")
                : "the sockets passed by systemd"
            logger.critical("cannot start: cannot listen on \(addresses): \(error)")
            try? await server.shutdown(drain: .zero)
            throw ExitCode(ExitStatus.failure)
        }

        Systemd.notify("READY=1\nSTATUS=ready: \(server.connectionCount) connections")
        logger.notice(
            "chatd ready",
            metadata: [
                "origins": "\(loaded.effectiveOrigins.joined(separator: ","))",
                "watchdog": "\(options.watchdog.map { "\($0)" } ?? "off")",
            ])
        do {
            try await server.run()
        } catch {
            logger.critical("stopped: \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        logger.notice("stopped")
    }
}

extension Chatd {
    /// Why the page cannot be served from `webRoot`, or nil. Checked before anything is
    /// opened so that a wrong path is reported as what it is (a configuration error).
    static func pageProblem(webRoot: String) -> String? {
        let index = URL(fileURLWithPath: webRoot).appendingPathComponent("index.html")
        do {
            _ = try Data(contentsOf: index)
            return nil
        } catch {
            return "cannot read the page: \(StartupError.describe(error))"
        }
    }
}
