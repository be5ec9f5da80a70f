import Crypto
import Foundation

/// CSP hashes of a page's inline `<script>` and `<style>` blocks. chatd's own page has none;
/// an operator's page (the article's, for one) keeps working under a strict policy that
/// allows exactly its own inline code and nothing injected.
enum InlineHashes {
    static func of(html: String) -> (scripts: [String], styles: [String]) {
        (
            blocks(tag: "script", in: html, skipIfAttribute: "src").map(hash),
            blocks(tag: "style", in: html, skipIfAttribute: nil).map(hash)
        )
    }

    static func hash(_ content: String) -> String {
        "'sha256-\(Data(SHA256.hash(data: Data(content.utf8))).base64EncodedString())'"
    }

    /// The text between `<tag ...>` and `</tag>`, for each such element.
    static func blocks(tag: String, in html: String, skipIfAttribute: String?) -> [String] {
        var found: [String] = []
        let lower = html.lowercased()
        guard lower.count == html.count else { return [] }  // case mapping changed lengths: give up safely
        var search = lower.startIndex
        while let open = lower.range(of: "<\(tag)", range: search..<lower.endIndex) {
            guard let tagEnd = lower.range(of: ">", range: open.upperBound..<lower.endIndex) else { break }
            let attributes = lower[open.upperBound..<tagEnd.lowerBound]
            guard attributes.isEmpty || attributes.first == " " || attributes.first == "\t" || attributes.first == "\n" else {
                search = tagEnd.upperBound
                continue
            }
            guard let close = lower.range(of: "</\(tag)", range: tagEnd.upperBound..<lower.endIndex) else { break }
            if skipIfAttribute.map({ !attributes.contains("\($0)=") }) ?? true {
                let start = html.index(html.startIndex, offsetBy: lower.distance(from: lower.startIndex, to: tagEnd.upperBound))
                let end = html.index(html.startIndex, offsetBy: lower.distance(from: lower.startIndex, to: close.lowerBound))
                found.append(String(html[start..<end]))
            }
            search = close.upperBound
        }
        return found
    }
}
