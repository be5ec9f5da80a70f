import AsyncHTTPClient
import ChatCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The one HTTP client chatd asks the application's backend with (`[proxy]`), on the
/// server's event loops. It only carries bytes: what an answer means is `BackendProxy`'s.
final class BackendClient: Sendable {
    /// A whole answer: status and body (at most `BackendProxy.maxAnswerBytes`).
    struct Answer: Sendable {
        let status: Int
        let body: [UInt8]
    }

    private let group: any EventLoopGroup
    let logger: Logger
    /// Made at the first question, so that a server without `[proxy]` holds no client;
    /// nil again once shut down.
    private let made = NIOLockedValueBox<(client: HTTPClient?, open: Bool)>((nil, true))

    init(group: any EventLoopGroup, logger: Logger) {
        self.group = group
        self.logger = logger
    }

    private var client: HTTPClient? {
        made.withLockedValue { state in
            guard state.open else { return nil }
            if let client = state.client { return client }
            var configuration = HTTPClient.Configuration()
            // A redirect would send the client's cookies on to wherever the backend points.
            configuration.redirectConfiguration = .disallow
            configuration.decompression = .disabled
            let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
            state.client = client
            return client
        }
    }

    /// Stands for a body longer than `BackendProxy.maxAnswerBytes`, which `BackendProxy` reads
    /// as no JSON at all.
    static let oversized = [UInt8](repeating: UInt8(ascii: "x"), count: BackendProxy.maxAnswerBytes + 1)

    /// POSTs `json` to `url`; the answer, or why there is none (for the log). The whole
    /// exchange — connect, head and body — must end within `timeout`: a backend that answers
    /// its head and then trickles the body is cut off like one that never answers.
    func post(
        _ url: String, json: [UInt8], headers: [(String, String)] = [], timeout: TimeAmount
    ) async -> Result<Answer, BackendFailure> {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "chatd")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: json))
        let deadline = NIODeadline.now() + timeout
        guard let client = self.client else { return .failure(BackendFailure("chatd is stopping")) }
        // The HTTP client traps on a port it cannot represent; validation refuses such URLs,
        // and this keeps one that slipped past from reaching it.
        guard let port = URLComponents(string: url).map({ $0.port ?? 80 }), (1...65535).contains(port) else {
            return .failure(BackendFailure("not a URL chatd can post to: \(url)"))
        }
        let prepared = request
        return await withTaskGroup(of: Result<Answer, BackendFailure>.self) { group in
            group.addTask {
                do {
                    let response = try await client.execute(prepared, deadline: deadline)
                    let status = Int(response.status.code)
                    do {
                        let body = try await response.body.collect(upTo: BackendProxy.maxAnswerBytes)
                        return .success(Answer(status: status, body: Array(buffer: body)))
                    } catch is NIOTooManyBytesError {
                        // The status still decides (a 403 with a huge page is a refusal); a
                        // body one byte too long is one no answer reader takes.
                        return .success(Answer(status: status, body: Self.oversized))
                    }
                } catch {
                    return .failure(BackendFailure("\(error)"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                return .failure(BackendFailure("no answer within \(Double(timeout.nanoseconds) / 1e9) s"))
            }
            let first = await group.next() ?? .failure(BackendFailure("cancelled"))
            group.cancelAll()
            return first
        }
    }

    func shutdown() async {
        let client = made.withLockedValue { state in
            state.open = false
            defer { state.client = nil }
            return state.client
        }
        try? await client?.shutdown()
    }
}

/// Why the backend gave no usable answer, as the log says it.
struct BackendFailure: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
