// swift-tools-version:6.1
import PackageDescription

// The dependency direction is the architecture (see docs/ARCHITECTURE.md):
// CSteleCRC32C ← SteleCore (codec, no I/O) ← SteleLog (storage) ← stele (CLI);
// SteleCore ← SteleKafkaProtocol (wire codec, NIOCore only).
let package = Package(
    name: "Stele",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SteleCore", targets: ["SteleCore"]),
        .library(name: "SteleLog", targets: ["SteleLog"]),
        .library(name: "SteleKafkaProtocol", targets: ["SteleKafkaProtocol"]),
        .library(name: "SteleCompression", targets: ["SteleCompression"]),
        .library(name: "SteleAsync", targets: ["SteleAsync"]),
        .library(name: "SteleStore", targets: ["SteleStore"]),
        .library(name: "SteleEmbedded", targets: ["SteleEmbedded"]),
        .library(name: "Stele", targets: ["Stele"]),
        .library(name: "StelePostgres", targets: ["StelePostgres"]),
        .library(name: "StelePostgresViews", targets: ["StelePostgresViews"]),
        .library(name: "SteleViews", targets: ["SteleViews"]),
        .library(name: "SteleProcessors", targets: ["SteleProcessors"]),
        .library(name: "SteleHTTP", targets: ["SteleHTTP"]),
        .library(name: "SteleRemote", targets: ["SteleRemote"]),
        .library(name: "SteleCDC", targets: ["SteleCDC"]),
        .library(name: "SteleWire", targets: ["SteleWire"]),
        .library(name: "SteleNode", targets: ["SteleNode"]),
        .executable(name: "stele", targets: ["SteleCLI"]),
        .executable(name: "stele-crashtest", targets: ["stele-crashtest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // SSE4.2 CRC32C chosen at run time; no unsafe flags so Stele stays usable as a dependency.
        .target(name: "CSteleCRC32C"),
        .target(name: "SteleCore", dependencies: ["CSteleCRC32C"]),
        // Async locks and wake-ups shared by the broker and the PostgreSQL store: no I/O.
        .target(name: "SteleAsync"),
        // Stream processing's state machines (windows, aggregates, watermarks): values only, no
        // I/O, no clock (issue 19).
        .target(name: "SteleProcessing"),
        .target(name: "SteleLog", dependencies: ["SteleCore"]),
        .target(name: "SteleLogTesting", dependencies: ["SteleLog", "SteleCore"]),
        // Kafka's compression codecs: system libraries loaded at run time, snappy in Swift.
        .target(name: "CSteleCompression", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "SteleCompression", dependencies: ["SteleCore", "CSteleCompression"]),
        // The Kafka wire codec: values and ByteBuffers only, no I/O.
        .target(name: "SteleKafkaProtocol", dependencies: ["SteleCore", .product(name: "NIOCore", package: "swift-nio")]),
        // Who a client is and what it may do, as values: SASL (PLAIN, SCRAM) exchanges,
        // credentials, principals. No I/O: the broker stores them, the server drives them.
        .target(name: "SteleSecurity", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
        ]),
        // Topics, partitions and the semantics the protocol needs on top of the log.
        .target(name: "SteleBroker", dependencies: ["SteleCore", "SteleAsync", "SteleSecurity",
            "SteleLog", "SteleCompression", .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The event-store API every backend implements and every application uses: streams,
        // versions, reads, subscriptions, snapshots over the `EventStorage` protocol. It knows
        // neither the broker nor the log.
        .target(name: "SteleStore", dependencies: ["SteleCore"]),
        // The HTTP API's JSON: `JSONValue` and the Codable shapes the server writes and the
        // remote store reads (CloudEvents, pages, problems), one set for both ends.
        .target(name: "SteleWire", dependencies: ["SteleStore"]),
        // The embedded backend: categories as the broker's topics in a data directory.
        .target(name: "SteleEmbedded", dependencies: ["SteleStore", "SteleBroker", "SteleLog", "SteleCore", "SteleCompression", "SteleAsync"]),
        // The PostgreSQL event-store backend. Its own module: postgres-nio is half of a clean build.
        .target(name: "StelePostgres", dependencies: [
            "SteleStore", "SteleAsync",
            .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Views in PostgreSQL schemas (the SQLite view store's sibling).
        // Change data capture from PostgreSQL (pgoutput) into an event store: a client of both.
        .target(name: "SteleCDC", dependencies: ["SteleStore", "SteleWire", "StelePostgres",
            .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .target(name: "StelePostgresViews", dependencies: [
            "StelePostgres", "SteleViews", "SteleStore",
            .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
        ]),
        // The read side: projections folding categories into SQLite (GRDB) views, checkpointed
        // in the same transaction.
        .target(name: "SteleViews", dependencies: ["SteleAsync", "SteleStore", "SteleWire", "SteleLog", "SteleCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        // Processors: followers of categories that write events of their own (windowed
        // aggregations declared in Swift or in SQL files), with their checkpoints.
        .target(name: "SteleProcessors", dependencies: ["SteleProcessing", "SteleStore", "SteleWire", "SteleLog", "SteleCore"]),
        // A running Stele used through its HTTP API, as an event store (Foundation's URLSession).
        .target(name: "SteleRemote", dependencies: ["SteleStore", "SteleWire"]),
        // The library applications import: typed events, deciders, repositories, reactors.
        .target(name: "Stele", dependencies: ["SteleStore", "SteleEmbedded", "SteleLog", "SteleRemote", "SteleProcessing", "SteleProcessors"]),
        // The seed's examples (bank account, shopping cart, inventory), behind `stele demo`.
        .target(name: "SteleExamples", dependencies: ["Stele", "SteleCore"], path: "Examples", exclude: ["views", "carts"]),
        // Networking lives here only: the Kafka listener over the broker.
        .target(name: "SteleServer", dependencies: ["SteleCore", "SteleLog", 
            "SteleBroker", "SteleKafkaProtocol", "SteleCompression", "SteleSecurity",
            .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            // Client certificates' subjects, parsed whole (nio-ssl's names drop unknown attributes).
            .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // The HTTP API over the store and the views (Hummingbird).
        .target(name: "SteleHTTP", dependencies: [.product(name: "NIOCore", package: "swift-nio"), 
            "SteleViews", "SteleProcessors", "SteleStore", "SteleWire", "SteleLog", "SteleBroker", "SteleSecurity", "SteleCore", "SteleKafkaProtocol", "SteleCompression", "SteleAsync",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        // Embedded/ holds the files the API serves; scripts/embed-files.py turns them into
        // EmbeddedFiles.swift (checked by scripts/test), so the binary works wherever it is copied.
        ], exclude: ["Embedded"]),
        // One node (broker, Kafka listener, views, HTTP) as services of one swift-service-lifecycle
        // group: what `stele serve`, the demos and the test servers start.
        .target(name: "SteleNode", dependencies: [
            "SteleBroker", "SteleServer", "SteleHTTP", "SteleViews", "SteleProcessors", "SteleStore", "SteleEmbedded",
            .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The `stele` command; its module has its own name so it cannot clash with the library's.
        .executableTarget(
            name: "SteleCLI",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"), "SteleCore", "StelePostgres", "StelePostgresViews", "SteleStore", "SteleEmbedded", "SteleWire",
                "SteleLog", "SteleServer", "SteleBroker", "SteleKafkaProtocol", "Stele", "SteleExamples", "SteleViews", "SteleHTTP", "SteleNode", "SteleSecurity", "SteleCDC", "SteleCompression", "SteleProcessing", "SteleProcessors",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "stele-crashtest",
            dependencies: ["SteleCore", 
                "SteleLog", "SteleStore", "SteleEmbedded", "SteleViews", "Stele",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // How tests wait (for progress, never for a fixed time), and their admin client of the test PostgreSQL cluster.
        .target(name: "SteleTestSupport", dependencies: [.product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
                path: "Tests/SteleTestSupport"),
        .testTarget(name: "SteleCoreTests", dependencies: ["SteleCore"]),
        .testTarget(name: "SteleProcessingTests", dependencies: ["SteleProcessing", "SteleCore"]),
        .testTarget(name: "SteleProcessorsTests", dependencies: ["SteleProcessors", "SteleProcessing", "SteleStore", "SteleWire", "Stele", "SteleCore", "SteleTestSupport"]),
        .testTarget(name: "SteleSecurityTests", dependencies: ["SteleSecurity", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SteleLogTests", dependencies: ["SteleCore", "SteleTestSupport", "SteleLog", "SteleLogTesting"]),
        .testTarget(name: "SteleCompressionTests", dependencies: ["SteleCore", "SteleCompression", "SteleLog"]),
        // Fixtures: request frames captured from kcat, confluent-kafka, kafka-python and aiokafka
        // (scripts/capture-kafka-requests.py), read by path.
        .testTarget(name: "SteleStoreTests", dependencies: [.product(name: "PostgresNIO", package: "postgres-nio"), "SteleCore", "SteleLog", "SteleTestSupport", 
            "SteleStore", "SteleEmbedded", "SteleBroker", "StelePostgres", "SteleRemote", "SteleHTTP", "SteleViews", "SteleNode",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SteleTests", dependencies: ["Stele", "SteleExamples", "SteleLog", "SteleLogTesting", "SteleProcessing", "SteleCore", "SteleTestSupport"]),
        .testTarget(name: "SteleViewsTests", dependencies: [.product(name: "Logging", package: "swift-log"), .product(name: "PostgresNIO", package: "postgres-nio"), "SteleTestSupport", "SteleViews", "SteleWire", "SteleStore", "SteleEmbedded", "StelePostgres", "StelePostgresViews", "Stele", "SteleExamples", "SteleLog", "SteleLogTesting"], exclude: ["Fixtures"]),
        .testTarget(name: "SteleHTTPTests", dependencies: ["SteleTestSupport", 
            "SteleHTTP", "SteleWire", "SteleStore", "SteleEmbedded", "SteleViews", "SteleBroker", "SteleRemote", "Stele", "SteleExamples", "SteleNode", "SteleSecurity", "SteleLog", "SteleLogTesting",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SteleBrokerTests", dependencies: ["SteleCore", "SteleTestSupport", "SteleBroker", "SteleLog", "SteleLogTesting", "SteleSecurity"]),
        .testTarget(name: "SteleCDCTests", dependencies: ["SteleCDC", "SteleStore", "SteleWire"]),
        .testTarget(name: "SteleServerTests", dependencies: [.product(name: "NIOCore", package: "swift-nio"), "SteleTestSupport", 
            "SteleServer", "SteleBroker", "SteleKafkaProtocol", "SteleCore", "SteleCompression", "SteleSecurity", "SteleLog",
            .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .testTarget(name: "SteleKafkaProtocolTests", dependencies: [.product(name: "NIOCore", package: "swift-nio"), "SteleKafkaProtocol", "SteleCore", "SteleCompression"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
