/// Where each key sits in the file. TOMLKit keeps no source positions for values, so chatd
/// finds them itself: section headers and `key =` lines, which is how a config file is
/// written in practice. A key not found this way is reported without a line.
struct KeyLines {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var section = ""
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let isArray = line.hasPrefix("[[")
                let inner = line.dropFirst(isArray ? 2 : 1).prefix { $0 != "]" }
                section = Self.normalise(inner)
                if lines[section] == nil { lines[section] = number }
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.normalise(line[..<eq])
                let full = section.isEmpty ? key : "\(section).\(key)"
                if lines[full] == nil { lines[full] = number }
            }
        }
    }

    func line(of key: String) -> Int? {
        if let n = lines[key] { return n }
        // A key of a missing entry is best located at its section.
        if let dot = key.lastIndex(of: ".") { return line(of: String(key[..<dot])) }
        return nil
    }

    private static func normalise(_ s: Substring) -> String {
        s.split(separator: ".").map { part in
            part.trimmingCharacters(in: " \t\"'")
        }.joined(separator: ".")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        return String(self.drop { chars.contains($0) }.reversed().drop { chars.contains($0) }.reversed())
    }
}
