// swift-tools-version: 6.0
// libFuzzer targets for chatd's parsers of untrusted input. Built apart from chatd because
// libFuzzer supplies `main`: `make fuzz` (or `swift build --sanitize=fuzzer` here).
import PackageDescription

let fuzzer: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "chatd-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "chatd", path: "..")],
    targets: [
        // A client's text frame: ClientCommand.decode.
        .executableTarget(name: "FuzzClientCommand", dependencies: [.product(name: "ChatCore", package: "chatd")],
                          swiftSettings: fuzzer),
        // The upgrade request check: UpgradeGate.decide and admit.
        .executableTarget(name: "FuzzUpgradeGate", dependencies: [.product(name: "ChatCore", package: "chatd")],
                          swiftSettings: fuzzer),
        // A verified JWT's payload: JWTClaims.identity (clamped expiry, valid name).
        .executableTarget(name: "FuzzJWTClaims", dependencies: [.product(name: "ChatCore", package: "chatd")],
                          swiftSettings: fuzzer),
        // Raw request-head bytes: fields, UpgradeGate.Request, the query, the gate, X-Forwarded-For.
        .executableTarget(name: "FuzzRequestHead", dependencies: [.product(name: "ChatCore", package: "chatd")],
                          swiftSettings: fuzzer),
        // A client's frames after the upgrade (WebSocketFraming) and its permessage-deflate offer.
        .executableTarget(name: "FuzzWebSocket", dependencies: [.product(name: "ChatCore", package: "chatd")],
                          swiftSettings: fuzzer),
        // The config loader: TOML text to a validated Config or a ConfigError.
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "ChatConfig", package: "chatd")],
                          swiftSettings: fuzzer),
    ],
    swiftLanguageModes: [.v6]
)
