/// One moderation action: who did what to what, when and why.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var at: Double
    public var actor: String
    public var action: String
    public var target: String
    public var reason: String

    public init(at: Double, actor: String, action: String, target: String, reason: String) {
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.reason = reason
    }
}
