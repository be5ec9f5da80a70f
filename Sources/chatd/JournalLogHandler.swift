import Foundation
import Logging

/// Log lines on stderr. Under systemd each line starts with `<N>` (sd-daemon.h's priority
/// prefixes) so the journal files it at the right priority; elsewhere it carries a time.
struct JournalLogHandler: LogHandler {
    let label: String
    let journalPrefixes: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String, journalPrefixes: Bool) {
        self.label = label
        self.journalPrefixes = journalPrefixes
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let meta = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line: String
        if journalPrefixes {
            line = "<\(Self.priority(event.level))>\(event.message)\(meta)\n"
        } else {
            let time = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime])
            line = "\(time) \(event.level) \(event.message)\(meta)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}
