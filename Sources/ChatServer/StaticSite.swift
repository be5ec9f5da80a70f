import Foundation
import NIOCore

/// The browser pages, read from disk once at start (and on reload) and served from memory.
/// Every regular file directly in the folder whose name and kind are known is served at
/// `/NAME`; nothing on disk is looked at per request, so no request path reaches the file
/// system.
struct StaticSite: Sendable {
    struct File: Sendable {
        let contentType: String
        let body: ByteBuffer
        /// CSP sources for the page's own inline scripts and styles (HTML only).
        var scriptHashes: [String] = []
        var styleHashes: [String] = []
    }

    /// Served kinds, by the name's extension. Anything else in the folder is left alone.
    static let types: [String: String] = [
        "html": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "ico": "image/x-icon",
        "json": "application/json",
        "ts": "text/plain; charset=utf-8",
        "txt": "text/plain; charset=utf-8",
    ]
    /// Pages also served without their `.html`: `/` is the chat, `/admin` the console.
    static let aliases: [String: String] = ["/": "index.html", "/admin": "admin.html"]
    /// A file larger than this is a mistake in the folder, not a page: start fails naming it.
    static let maxFileBytes = 8 << 20

    struct TooLarge: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is larger than \(StaticSite.maxFileBytes >> 20) MiB" }
    }

    let root: String
    private let byPath: [String: File]

    init(root: String) throws {
        self.root = root
        let folder = URL(fileURLWithPath: root)
        // Only the page itself is required; an operator's single-file page is fine.
        var names = Set((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
        names.insert("index.html")
        var byName: [String: File] = [:]
        for name in names where Self.isServable(name) {
            let url = folder.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            let isFile = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
            guard name == "index.html" || isFile else { continue }
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
            if size > Self.maxFileBytes { throw TooLarge(path: url.path) }
            let data = try Data(contentsOf: url)
            let type = Self.types[Self.extension(of: name)] ?? "application/octet-stream"
            var file = File(contentType: type, body: ByteBuffer(bytes: data))
            if type.hasPrefix("text/html") {
                (file.scriptHashes, file.styleHashes) = InlineHashes.of(html: String(decoding: data, as: UTF8.self))
            }
            byName[name] = file
        }
        var byPath: [String: File] = [:]
        for (name, file) in byName { byPath["/" + name] = file }
        for (alias, name) in Self.aliases { byPath[alias] = byName[name] }
        self.byPath = byPath
    }

    func file(at path: String) -> File? { byPath[path] }

    /// Plain names with a served extension; no dot files, no editor leftovers.
    static func isServable(_ name: String) -> Bool {
        let plain = name.unicodeScalars.allSatisfy { c in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "._-".unicodeScalars.contains(c))
        }
        guard plain, !name.hasPrefix("."), name.utf8.count <= 128 else { return false }
        return types[self.extension(of: name)] != nil
    }

    private static func `extension`(of name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return String(name[name.index(after: dot)...]).lowercased()
    }
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
