import CSystemd
import Foundation

/// chatd's face of libsystemd: readiness notifications, passed sockets, the watchdog.
/// Every call is a no-op (returns false/empty) when chatd is not run by systemd.
public enum Systemd {
    /// Sends `state` (e.g. "READY=1\nSTATUS=…") to `$NOTIFY_SOCKET`. Returns false when
    /// there is no notify socket; `sd_notify` returns 0 then, which is not an error.
    /// `unset_environment` is always 0: unsetting it would silence every later notification.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// Tells systemd a reload began; `MONOTONIC_USEC` is required with `RELOADING=1`.
    @discardableResult
    public static func notifyReloading() -> Bool {
        notify(reloadingMessage())
    }

    /// `RELOADING=1` with the current `CLOCK_MONOTONIC` time, as systemd expects it.
    public static func reloadingMessage() -> String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        return "RELOADING=1\nMONOTONIC_USEC=\(usec)"
    }

    /// A socket passed by systemd (`LISTEN_FDS`), with its `FileDescriptorName=`.
    public struct ListenFD: Sendable, Equatable {
        public var fd: Int32
        public var name: String
    }

    /// The sockets passed to this process. An unnamed single socket is named "http".
    /// `unset_environment` is 0 so that the variables stay readable for diagnostics; the fds
    /// are marked close-on-exec by libsystemd.
    public static func listenFDs() -> [ListenFD] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(0, &names)
        guard count > 0 else { return [] }
        defer {
            if let names {
                for i in 0..<Int(count) { free(names[i]) }
                free(names)
            }
        }
        return (0..<Int(count)).map { i in
            let raw = names?[i].map { String(cString: $0) } ?? ""
            let name = (raw.isEmpty || raw == "unknown") ? (count == 1 ? "http" : "fd\(i)") : raw
            return ListenFD(fd: SD_LISTEN_FDS_START + Int32(i), name: name)
        }
    }

    /// The watchdog interval systemd expects pings within, or nil when it is off.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        // WATCHDOG_USEC comes from the environment: a value past a day is treated as a day
        // rather than overflowing a conversion.
        return .microseconds(Int64(min(usec, 86_400_000_000)))
    }
}
