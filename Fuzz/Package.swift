// swift-tools-version:6.1
import PackageDescription

// libFuzzer harnesses for every decoder that reads outside input, in their own package so that
// normal builds never see them (no `main`: libFuzzer provides one). One binary, the decoder
// chosen by STELE_FUZZ_TARGET (requests, batches, codecs, views, http), so CI links once.
// Built by scripts/fuzz:
//   swift build --package-path Fuzz --sanitize=fuzzer -Xswiftc -parse-as-library --product stele-fuzz
// The harnesses reach internal decoders with @testable imports (debug builds enable testing).
let package = Package(
    name: "SteleFuzz",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "stele-fuzz", targets: ["stele-fuzz"])],
    dependencies: [.package(name: "Stele", path: "..")],
    targets: [
        .executableTarget(
            name: "stele-fuzz",
            dependencies: [
                .product(name: "SteleKafkaProtocol", package: "Stele"),
                .product(name: "SteleCore", package: "Stele"),
                .product(name: "SteleLog", package: "Stele"),
                .product(name: "SteleCompression", package: "Stele"),
                .product(name: "SteleViews", package: "Stele"),
                .product(name: "SteleHTTP", package: "Stele"),
                .product(name: "SteleWire", package: "Stele"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
