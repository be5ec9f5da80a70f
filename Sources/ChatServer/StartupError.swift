import Foundation

/// Why chatd could not start, phrased for the operator: what failed (a key, a path, an
/// address) and why. `isConfiguration` picks the exit status: 78 (EX_CONFIG) for what only
/// an edit of the configuration or the file system fixes, so that a supervisor does not
/// restart in a loop; 1 for a runtime failure that may pass (a database restarting, a port
/// held by a process that is stopping).
public struct StartupError: Error, Sendable, CustomStringConvertible {
    public var isConfiguration: Bool
    /// What failed: `history store at /var/lib/chatd/history.sqlite`, `auth.jwt.key_file`.
    public var what: String
    public var reason: String

    public init(isConfiguration: Bool, what: String, reason: String) {
        self.isConfiguration = isConfiguration
        self.what = what
        self.reason = reason
    }

    public var description: String { "\(what): \(reason)" }

    /// The SQLite store at `path` could not be opened. A path chatd may not create, read or
    /// write, or a file that is not a database, is the operator's to fix; anything else (a
    /// locked database, a full disk) is a runtime failure.
    static func historyStore(path: String, _ error: any Error) -> StartupError {
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let unusable =
            isDirectory.boolValue
            || (exists && access(path, R_OK | W_OK) != 0)
            || (!directory.isEmpty && !Self.creatable(directory))
        return StartupError(
            isConfiguration: unusable || Self.isPathProblem(error),
            what: "history store at \(path) (history.path)", reason: "cannot open: \(describe(error))")
    }

    /// The errno or SQLite result codes of a path that is wrong rather than a store that failed
    /// (root passes every `access` check, so the probe above cannot tell for it).
    private static func isPathProblem(_ error: any Error) -> Bool {
        if let errno = posixCode(error) { return [ENOENT, EACCES, EPERM, EROFS, ENOTDIR, EISDIR].contains(errno) }
        let ns = error as NSError
        // GRDB's DatabaseError bridges with its extended result code: PERM, READONLY, CANTOPEN, NOTADB.
        return ns.domain == "GRDB.DatabaseError" && [3, 8, 14, 26].contains(Int32(truncatingIfNeeded: ns.code & 0xff))
    }

    private static func posixCode(_ error: any Error) -> Int32? {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return Int32(truncatingIfNeeded: ns.code) }
        // On Linux the underlying error is stored as a Swift `Error`, which `as? NSError` misses.
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
            let u = underlying as NSError
            if u.domain == NSPOSIXErrorDomain { return Int32(truncatingIfNeeded: u.code) }
        }
        return nil
    }

    /// An error as one line: the system's words for an errno, the error's own text otherwise
    /// (Foundation's file errors describe themselves as a dictionary dump).
    public static func describe(_ error: any Error) -> String {
        if let errno = posixCode(error), let text = strerror(errno) {
            let path = ((error as NSError).userInfo[NSFilePathErrorKey] as? String).map { " (\($0))" } ?? ""
            return String(cString: text) + path
        }
        if error is CocoaError { return (error as NSError).localizedDescription }
        return "\(error)"
    }

    /// True when `directory` exists and is writable, or could be created by chatd (its
    /// nearest existing ancestor is a writable directory).
    private static func creatable(_ directory: String) -> Bool {
        var current = directory
        while true {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
                return isDirectory.boolValue && access(current, W_OK | X_OK) == 0
            }
            let parent = (current as NSString).deletingLastPathComponent
            if parent == current || parent.isEmpty { return false }
            current = parent
        }
    }
}
