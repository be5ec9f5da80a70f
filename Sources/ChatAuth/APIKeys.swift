public import ChatCore

/// The publish API's keys, found by the SHA-256 of the presented key.
public struct APIKeys: Sendable {
    public struct Key: Sendable {
        public var name: String
        public var rooms: RoomPatterns
    }

    private let byHash: [String: Key]

    /// `keys`: each key's name, the SHA-256 (hex) of the key, and the rooms it may publish to.
    public init(_ keys: [String: (keySHA256: String, rooms: [String])]) {
        var byHash: [String: Key] = [:]
        for (name, key) in keys {
            byHash[key.keySHA256.lowercased()] = Key(name: name, rooms: RoomPatterns(key.rooms) ?? RoomPatterns([])!)
        }
        self.byHash = byHash
    }

    public var isEmpty: Bool { byHash.isEmpty }

    public func key(for presented: String) -> Key? {
        byHash[Authenticator.sha256Hex(presented)]
    }
}
