import Foundation
import Testing

@testable import ChatConfig

/// The table of keys against the prose operators read: which keys a reload cannot apply.
/// (Every key being in etc/chatd.toml is `exampleConfigDocumentsEveryKey`; every range in
/// chatd.toml(5) and configuration.md is `NumericKeysDocsTests`.)
@Suite struct ConfigKeysTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static var restartKeys: Set<String> { Set(ConfigKeys.all.filter { $0.reload == .restart }.map(\.path)) }

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The part of `text` from `start` to `end`.
    static func passage(_ text: String, from start: String, to end: String) -> String? {
        text.components(separatedBy: start).dropFirst().first?.components(separatedBy: end).first
    }

    /// Names as a doc writes them, a whole section (`[cluster]`, `cluster.*`) standing for its keys.
    static func keys(_ names: [String]) -> Set<String> {
        Set(
            names.flatMap { name -> [String] in
                guard name.hasPrefix("[") || name.hasSuffix(".*") else { return [name] }
                let section = name.trimmingCharacters(in: CharacterSet(charactersIn: "[].*"))
                return ConfigSchema.keys.filter { $0.hasPrefix("\(section).") }
            })
    }

    @Test func everyPathIsASectionAndAKey() {
        for key in ConfigKeys.all {
            #expect(!key.section.isEmpty && !key.name.isEmpty && !key.name.contains("."), "\(key.path)")
            #expect(ConfigKeys.named(key.path)?.path == key.path)
        }
        #expect(Set(ConfigKeys.all.map(\.path)).count == ConfigKeys.all.count)
        #expect(ConfigDiff.restartKeys == Self.restartKeys)
    }

    @Test func theManPageNamesExactlyTheRestartKeys() throws {
        let page = try Self.text("man/chatd.toml.5")
        let sentence = try #require(Self.passage(page, from: "applies every key at once except\n", to: "which need a restart"))
        let names = sentence.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            return words.count >= 2 && (words[0] == ".B" || words[0] == ".BR") ? String(words[1]) : nil
        }
        #expect(Self.keys(names).sorted() == Self.restartKeys.sorted())
    }

    @Test func theConfigurationDocNamesExactlyTheRestartKeys() throws {
        let doc = try Self.text("docs/configuration.md")
        let sentence = try #require(
            Self.passage(
                doc, from: "A reload (SIGHUP, `chatctl reload`) applies every key at once",
                to: "which need a restart"))
        let afterExcept = try #require(sentence.components(separatedBy: "except").last)
        let names = afterExcept.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        #expect(Self.keys(names).sorted() == Self.restartKeys.sorted())
    }

    /// How a reload applies each key, as configuration.md lists it: the lines the table gives,
    /// word for word, so that the doc cannot fall behind a key's `reload`.
    @Test func theConfigurationDocListsEveryKeyByHowAReloadAppliesIt() throws {
        let doc = try Self.text("docs/configuration.md")
        for line in Self.reloadLines() {
            #expect(doc.contains(line), "docs/configuration.md lacks the line:\n\(line)")
        }
    }

    static func reloadLines() -> [String] {
        ConfigKey.Reload.allCases.map { mode in
            let title =
                switch mode {
                case .restart: "At the next restart (a reload reports the change and keeps the running value)"
                case .openConnections: "At once, open connections included"
                case .newConnections: "For new connections and requests (open connections keep theirs)"
                case .nextUse: "Server-wide, from its next use"
                }
            let keys = ConfigKeys.all.filter { $0.reload == mode }.map { "`\($0.path)`" }.joined(separator: ", ")
            return "- \(title): \(keys)."
        }
    }
}
