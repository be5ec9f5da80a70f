import ChatControl
import Foundation

/// One request over chatd's control socket, one response back. Plain blocking POSIX I/O:
/// chatctl does one thing and exits.
enum ControlClient {
    /// Failures with their own exit statuses, so scripts can tell them apart.
    enum Failure: Error, CustomStringConvertible {
        case notRunning(String)  // socket missing or nobody listening: exit 3
        case permissionDenied(String)  // filesystem or peer-credential refusal: exit 4
        case protocolError(String)  // garbled or no answer: exit 5

        var exitCode: Int32 {
            switch self {
            case .notRunning: return 3
            case .permissionDenied: return 4
            case .protocolError: return 5
            }
        }

        var description: String {
            switch self {
            case let .notRunning(m), let .permissionDenied(m), let .protocolError(m): return m
            }
        }
    }

    static func send(_ request: ControlRequest, socketPath: String, timeout: Double = 30) throws(Failure) -> ControlResponse {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .protocolError("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .protocolError("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            let err = errno
            switch err {
            case ENOENT: throw .notRunning("chatd is not running: no control socket at \(socketPath)")
            case ECONNREFUSED: throw .notRunning("chatd is not running: nothing listens on \(socketPath)")
            case EACCES, EPERM:
                throw .permissionDenied("permission denied on \(socketPath) (run as root or as a member of the chatd group)")
            default: throw .protocolError("cannot connect to \(socketPath): \(String(cString: strerror(err)))")
            }
        }
        let line: Data
        do {
            line = try ControlCoding.encode(request)
        } catch {
            throw .protocolError("cannot encode the request: \(error)")
        }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw .protocolError("cannot send the request: \(String(cString: strerror(errno)))") }

        var received = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !received.contains(0x0A) {
            let n = read(fd, &chunk, chunk.count)
            if n > 0 {
                received.append(contentsOf: chunk[..<n])
            } else if n == 0 {
                break
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                throw .protocolError("chatd did not answer within \(Int(timeout)) s")
            } else if errno != EINTR {
                throw .protocolError("cannot read the answer: \(String(cString: strerror(errno)))")
            }
        }
        guard let end = received.firstIndex(of: 0x0A) else { throw .protocolError("chatd closed the connection without an answer") }
        let response: ControlResponse
        do {
            response = try ControlCoding.decode(ControlResponse.self, from: received[received.startIndex..<end])
        } catch {
            throw .protocolError("chatd's answer is not a control response: \(error)")
        }
        if response.error?.code == "permission_denied" {
            throw .permissionDenied("chatd refused: \(response.error?.message ?? "permission denied")")
        }
        return response
    }
}
