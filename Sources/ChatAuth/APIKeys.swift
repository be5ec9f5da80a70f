public import ChatConfig
public import ChatCore

/// The publish API's keys, found by the SHA-256 of the presented key.
public struct APIKeys: Sendable {
    public struct Key: Sendable {
        public var name: String
        public var rooms: RoomPatterns
    }

    private let byHash: [String: Key]

    public init(_ api: Config.API) {
        var byHash: [String: Key] = [:]
        for (name, key) in api.keys {
            byHash[key.keySHA256.lowercased()] = Key(name: name, rooms: RoomPatterns(key.rooms) ?? RoomPatterns([])!)
        }
        self.byHash = byHash
    }

    public var isEmpty: Bool { byHash.isEmpty }

    public func key(for presented: String) -> Key? {
        byHash[Authenticator.sha256Hex(presented)]
    }
}
