import ChatCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The HTTP client chatd asks the application's backend with (`[proxy]`, webhooks), on the
/// server's event loops: one POST per connection, no redirects, one deadline for the whole
/// exchange. It only carries bytes: what an answer means is `BackendProxy`'s.
///
/// chatd's own rather than async-http-client: that one brings swift-nio-extras' copy of
/// zlib into the binary (lintian: embedded-library), and chatd needs none of its features
/// beyond a POST with a deadline.
final class BackendClient: Sendable {
    /// A whole answer: status and body (at most `BackendProxy.maxAnswerBytes`, or
    /// `oversized`).
    struct Answer: Sendable {
        let status: Int
        let body: [UInt8]
    }

    /// Stands for a body longer than `BackendProxy.maxAnswerBytes`, which `BackendProxy` reads
    /// as no JSON at all; the status still decides (a 403 with a huge page is a refusal).
    static let oversized = [UInt8](repeating: UInt8(ascii: "x"), count: BackendProxy.maxAnswerBytes + 1)

    private let group: any EventLoopGroup
    let logger: Logger
    private let stopped = NIOLockedValueBox(false)
    /// Made at the first https question.
    private let tls = NIOLockedValueBox<NIOSSLContext?>(nil)

    init(group: any EventLoopGroup, logger: Logger) {
        self.group = group
        self.logger = logger
    }

    /// POSTs `json` to `url`; the answer, or why there is none (for the log). The whole
    /// exchange — connect, head and body — must end within `timeout`: a backend that answers
    /// its head and then trickles the body is cut off like one that never answers.
    func post(
        _ url: String, json: [UInt8], headers: [(String, String)] = [], timeout: TimeAmount
    ) async -> Result<Answer, BackendFailure> {
        guard !stopped.withLockedValue({ $0 }) else { return .failure(BackendFailure("chatd is stopping")) }
        guard let target = Target(url) else { return .failure(BackendFailure("not a URL chatd can post to: \(url)")) }
        let context: NIOSSLContext?
        do {
            context = target.secure ? try tlsContext() : nil
        } catch {
            return .failure(BackendFailure("TLS: \(error)"))
        }
        let loop = group.next()
        let promise = loop.makePromise(of: Answer.self)
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(BackendFailure("no answer within \(Double(timeout.nanoseconds) / 1e9) s"))
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path)
        head.headers.add(name: "Host", value: target.hostHeader)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(json.count))
        head.headers.add(name: "User-Agent", value: "chatd")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = head
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let context {
                        try ops.addHandler(NIOSSLClientHandler(context: context, serverHostname: target.sniHost))
                    }
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(AnswerReader(promise: promise))
                }
            }
            .connect(host: target.host, port: target.port)
        connected.whenSuccess { channel in
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: json))), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            // Whatever ends the exchange (answer, deadline, failure) ends the connection.
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        connected.whenFailure { promise.fail(BackendFailure("cannot connect: \($0)")) }
        do {
            let answer = try await promise.futureResult.get()
            deadline.cancel()
            return .success(answer)
        } catch let failure as BackendFailure {
            return .failure(failure)
        } catch {
            deadline.cancel()
            return .failure(BackendFailure("\(error)"))
        }
    }

    /// After this, every question fails at once (chatd is stopping).
    func shutdown() async {
        stopped.withLockedValue { $0 = true }
    }

    private func tlsContext() throws -> NIOSSLContext {
        try tls.withLockedValue { made in
            if let made { return made }
            let context = try NIOSSLContext(configuration: .makeClientConfiguration())
            made = context
            return context
        }
    }

    /// Where a URL posts to. The port is checked here too: `--check-config` refuses ports
    /// past 65535, and nothing that slipped past may reach a conversion that traps.
    struct Target {
        let secure: Bool
        let host: String
        let port: Int
        let path: String
        let hostHeader: String
        /// The name TLS is asked for: none for an IP address (RFC 6066 forbids it).
        let sniHost: String?

        init?(_ url: String) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                ["http", "https"].contains(scheme), var host = components.host, !host.isEmpty
            else { return nil }
            secure = scheme == "https"
            let port = components.port ?? (secure ? 443 : 80)
            guard (1...65535).contains(port) else { return nil }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host
            self.port = port
            let query = components.percentEncodedQuery.map { "?" + $0 } ?? ""
            path = (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath) + query
            let shown = host.contains(":") ? "[\(host)]" : host
            hostHeader = components.port == nil ? shown : "\(shown):\(port)"
            let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
            sniHost = isAddress ? nil : host
        }
    }
}

/// Reads one response: its status, and its body up to `BackendProxy.maxAnswerBytes`.
private final class AnswerReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<BackendClient.Answer>
    private var status: Int?
    private var body: [UInt8] = []
    private var oversized = false

    init(promise: EventLoopPromise<BackendClient.Answer>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            status = Int(head.status.code)
        case var .body(buffer):
            guard !oversized else { return }
            if body.count + buffer.readableBytes > BackendProxy.maxAnswerBytes {
                // Decided on the status: nothing more is read.
                oversized = true
                finish(context)
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            finish(context)
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        guard let status else { return promise.fail(BackendFailure("no status line")) }
        promise.succeed(BackendClient.Answer(status: status, body: oversized ? BackendClient.oversized : body))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(BackendFailure("the connection closed before the answer ended"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(BackendFailure("\(error)"))
        context.close(promise: nil)
    }
}

/// Why the backend gave no usable answer, as the log says it.
struct BackendFailure: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
