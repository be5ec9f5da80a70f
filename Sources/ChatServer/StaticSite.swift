import Foundation
import NIOCore

/// The browser page, read from disk once at start (and on reload) and served from memory.
struct StaticSite: Sendable {
    struct File: Sendable {
        let contentType: String
        let body: ByteBuffer
        /// CSP sources for the page's own inline scripts and styles (HTML only).
        var scriptHashes: [String] = []
        var styleHashes: [String] = []
    }

    static let files: [(path: String, name: String, type: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ]

    let root: String
    private let byPath: [String: File]

    init(root: String) throws {
        self.root = root
        var byPath: [String: File] = [:]
        for entry in Self.files {
            let url = URL(fileURLWithPath: root).appendingPathComponent(entry.name)
            // Only the page itself is required; an operator's single-file page is fine.
            guard entry.name == "index.html" || FileManager.default.fileExists(atPath: url.path) else { continue }
            let data = try Data(contentsOf: url)
            var file = File(contentType: entry.type, body: ByteBuffer(bytes: data))
            if entry.type.hasPrefix("text/html") {
                (file.scriptHashes, file.styleHashes) = InlineHashes.of(html: String(decoding: data, as: UTF8.self))
            }
            byPath[entry.path] = file
        }
        self.byPath = byPath
    }

    func file(at path: String) -> File? { byPath[path] }
}

/// Finds the page's folder when the configuration names none.
public enum StaticSiteLocator {
    /// Where the page is when the config does not say: `$CHATD_WEB_ROOT`, then
    /// `<prefix>/share/chatd/www` for a binary in `<prefix>/bin`, then `./web`.
    public static func defaultRoot(environment: [String: String], executablePath: String) -> String {
        if let root = environment["CHATD_WEB_ROOT"], !root.isEmpty { return root }
        let bin = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        let installed = bin.deletingLastPathComponent().appendingPathComponent("share/chatd/www").path
        if FileManager.default.fileExists(atPath: installed + "/index.html") { return installed }
        return FileManager.default.currentDirectoryPath + "/web"
    }
}
