import ChatCore

/// Any bytes a client can send in a text frame decode to a command or an error code, and a
/// decoded message keeps the promises the protocol makes about its text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let decoded = ClientCommand.decodeRequest(bytes, maxChars: 500)
    // An error repeats this: it must be a nonce a client could have sent.
    precondition(decoded.nonce.map { MessageNonce.isValid($0, maxLength: MessageNonce.maxClientLength) } ?? true, "invalid nonce echoed")
    switch decoded.command {
    case let .success(.message(text, room, nonce, replyTo)):
        precondition(!text.isEmpty && text.utf16.count <= 500, "message text out of bounds")
        precondition(Sanitize.visibleText(text) == text, "hidden characters survived")
        precondition(room.map(Sanitize.isValidRoom) ?? true, "invalid room accepted")
        precondition(nonce.map { MessageNonce.isValid($0, maxLength: MessageNonce.maxClientLength) } ?? true, "invalid nonce accepted")
        precondition(replyTo.map { $0 > 0 } ?? true, "a reply to seq 0 accepted")
    case let .success(.edit(seq, text, room)):
        precondition(seq > 0, "an edit of seq 0 accepted")
        precondition(!text.isEmpty && text.utf16.count <= 500, "edit text out of bounds")
        precondition(Sanitize.visibleText(text) == text, "hidden characters survived an edit")
        precondition(room.map(Sanitize.isValidRoom) ?? true, "invalid room accepted")
    case let .success(.react(seq, emoji, _, room)):
        precondition(seq > 0, "a reaction to seq 0 accepted")
        precondition(Reactions.isEmoji(emoji) && emoji.count == 1, "a reaction that is not one emoji accepted")
        precondition(room.map(Sanitize.isValidRoom) ?? true, "invalid room accepted")
    case let .success(.typing(room)), let .success(.members(room)):
        precondition(room.map(Sanitize.isValidRoom) ?? true, "invalid room accepted")
    case let .success(.join(room, _)), let .success(.leave(room)):
        precondition(Sanitize.isValidRoom(room), "invalid room accepted")
    case let .success(.read(seq, room)):
        precondition(seq > 0, "a read of seq 0 accepted")
        precondition(room.map(Sanitize.isValidRoom) ?? true, "invalid room accepted")
    case let .success(.history(_, limit, _)):
        precondition(limit > 0 && limit <= ClientCommand.maxHistoryPage, "history limit out of bounds")
    default:
        break
    }
    return 0
}
