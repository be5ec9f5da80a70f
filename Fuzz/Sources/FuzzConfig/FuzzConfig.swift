import ChatConfig

/// Any config text loads or fails with a ConfigError that names the file; never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let config = try ConfigLoader.parse(text, file: "fuzz.toml")
        precondition(!config.server.listen.isEmpty, "validated config without a listen address")
    } catch {
        precondition(error.file == "fuzz.toml", "error without its file")
        precondition(!error.description.isEmpty, "empty error")
    }
    return 0
}
