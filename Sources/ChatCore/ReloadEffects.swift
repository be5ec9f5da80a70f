/// What a reload does to a session that stays open, decided without I/O: the identity its
/// credential now gives, and the rooms it must leave because the credential or a room rule
/// no longer lets it in. (A credential no longer accepted at all closes the session with
/// 1008; that verdict is the authenticator's.)
public enum ReloadEffects {
    /// The identity after a reload. A guest keeps the name it chose at the upgrade: the
    /// reload changes what the credential allows, not who the other members see.
    public static func identity(_ fresh: Identity, chosenName: String) -> Identity {
        var identity = fresh
        if identity.guestNames { identity.name = chosenName }
        return identity
    }

    /// The rooms, of `rooms` (in the order joined), that the session must leave with reason
    /// "forbidden".
    public static func roomsToLeave(_ rooms: [String], identity: Identity, rules: RoomRules) -> [String] {
        rooms.filter { Authorization.join(identity, room: $0, rule: rules.rule(for: $0)) != nil }
    }
}
