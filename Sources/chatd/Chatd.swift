import ArgumentParser
import ChatConfig
import ChatServer
import Dispatch
import Foundation
import Logging

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
        version: ChatdVersion.string
    )

    @Option(name: .long, help: "Path of the TOML configuration file. Without it, chatd runs on built-in defaults.")
    var config: String?

    @Flag(name: .long, help: "Validate the configuration and exit: 0 when valid, 78 with the reason when not.")
    var checkConfig = false

    func run() async throws {
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

        let level = Logger.Level(rawValue: loaded.log.level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "chatd")

        let webRoot = loaded.server.webRoot
            ?? StaticSiteLocator.defaultRoot(environment: environment, executablePath: CommandLine.arguments[0])
        let server: ChatServer
        do {
            server = try ChatServer(config: loaded, webRoot: webRoot, logger: logger)
        } catch {
            logger.critical("cannot load the web page from \(webRoot): \(error)")
            throw ExitCode(ExitStatus.failure)
        }
        do {
            try await server.start()
        } catch {
            logger.critical("cannot listen: \(error)")
            try? await server.shutdown(drain: .zero)
            throw ExitCode(ExitStatus.failure)
        }
        logger.notice("chatd ready", metadata: ["origins": "\(loaded.effectiveOrigins.joined(separator: ","))"])

        let signal = await Signals.next([SIGINT, SIGTERM])
        logger.notice("stopping on signal \(signal): closing clients with 1001")
        // A second signal while draining exits at once.
        Signals.exitOnNext([SIGINT, SIGTERM])
        try await server.shutdown(drain: .seconds(5))
        logger.notice("stopped")
    }
}
