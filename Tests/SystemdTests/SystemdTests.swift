import Foundation
import Testing

@testable import Systemd

/// libsystemd for real: sd_notify writes to a datagram socket that the test reads.
@Suite(.serialized) struct SystemdTests {
    @Test func notifyWithoutASocketIsANoOp() {
        unsetenv("NOTIFY_SOCKET")
        #expect(Systemd.notify("READY=1") == false)
    }

    @Test func notifySendsTheDatagramAndKeepsTheEnvironment() throws {
        let path = NSTemporaryDirectory() + "chatd-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }

        #expect(Systemd.notify("READY=1\nSTATUS=ok"))
        #expect(receive(fd) == "READY=1\nSTATUS=ok")
        // A second notification still arrives: the variable was not unset by the first.
        #expect(Systemd.notifyReloading())
        let reloading = receive(fd)
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(UInt64(reloading.split(separator: "=").last ?? "") ?? 0 > 0)
    }

    @Test func noListenFDsOutsideSocketActivation() {
        unsetenv("LISTEN_FDS")
        #expect(Systemd.listenFDs().isEmpty)
        #expect(Systemd.watchdogInterval() == nil)
    }

    private func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }
}
