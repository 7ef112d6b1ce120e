// swift-tools-version:6.1
import PackageDescription

// The dependency direction is the architecture (see docs/ARCHITECTURE.md):
// CSteleCRC32C ← SteleCore (codec, no I/O) ← SteleLog (storage) ← stele (CLI).
let package = Package(
    name: "Stele",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SteleCore", targets: ["SteleCore"]),
        .library(name: "SteleLog", targets: ["SteleLog"]),
        .executable(name: "stele", targets: ["stele"]),
        .executable(name: "stele-crashtest", targets: ["stele-crashtest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // SSE4.2 CRC32C chosen at run time; no unsafe flags so Stele stays usable as a dependency.
        .target(name: "CSteleCRC32C"),
        .target(name: "SteleCore", dependencies: ["CSteleCRC32C"]),
        .target(name: "SteleLog", dependencies: ["SteleCore"]),
        .target(name: "SteleLogTesting", dependencies: ["SteleLog"]),
        .executableTarget(
            name: "stele",
            dependencies: [
                "SteleLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "stele-crashtest",
            dependencies: [
                "SteleLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SteleCoreTests", dependencies: ["SteleCore"]),
        .testTarget(name: "SteleLogTests", dependencies: ["SteleLog", "SteleLogTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
