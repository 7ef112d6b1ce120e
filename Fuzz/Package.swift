// swift-tools-version:6.1
import PackageDescription

// A libFuzzer harness for the Kafka request decoder, in its own package so that normal builds
// never see it (it has no `main`: libFuzzer provides one). Built by scripts/fuzz:
//   swift build --package-path Fuzz --sanitize=fuzzer -Xswiftc -parse-as-library --product fuzz-requests
let package = Package(
    name: "SteleFuzz",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "fuzz-requests", targets: ["fuzz-requests"])],
    dependencies: [.package(name: "Stele", path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz-requests",
            dependencies: [
                .product(name: "SteleKafkaProtocol", package: "Stele"),
                .product(name: "SteleCore", package: "Stele"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
