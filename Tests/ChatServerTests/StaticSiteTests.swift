import Foundation
import Testing

@testable import ChatServer

/// The web folder as chatd serves it: read once, by name and known kind.
@Suite struct StaticSiteTests {
    @Test func servesThePlainFilesOfTheFolderAndNothingElse() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("site-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        for name in ["index.html", "admin.html", "chatd.js", "chatd.d.ts", ".hidden.js", "notes.md", "app.js~", "sub/x.js", "a b.js"] {
            try Data("<p>\(name)</p>".utf8).write(to: root.appendingPathComponent(name))
        }
        let site = try StaticSite(root: root.path)
        #expect(site.file(at: "/")?.contentType == "text/html; charset=utf-8")
        #expect(site.file(at: "/admin").map { String(buffer: $0.body) } == "<p>admin.html</p>")
        #expect(site.file(at: "/chatd.js")?.contentType == "text/javascript; charset=utf-8")
        #expect(site.file(at: "/chatd.d.ts") != nil)
        for path in ["/.hidden.js", "/notes.md", "/app.js~", "/sub/x.js", "/sub", "/a b.js", "/../index.html", "/index"] {
            #expect(site.file(at: path) == nil, "\(path)")
        }
    }

    @Test func aFolderWithoutThePageFailsToLoad() {
        #expect(throws: (any Error).self) { try StaticSite(root: "/nonexistent-\(UUID().uuidString)") }
    }
}
