import ArgumentParser
import SteleKafkaProtocol
import SteleServer

/// `stele topics create|list|describe|delete`, over the Kafka protocol (like kafka-topics.sh),
/// so it works against a running `stele serve` or any Kafka broker.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, list, describe and delete topics on a running broker.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "Broker address, host:port.")
        var bootstrap = "127.0.0.1:9092"

        var client: KafkaAdminClient {
            get throws {
                let parts = bootstrap.split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--bootstrap must be host:port") }
                return KafkaAdminClient(host: String(parts[0]), port: port)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var connection: Connection
        @Argument(help: "Topic name.") var name: String
        @Option(help: "Partitions (default: the broker's).") var partitions: Int32 = -1
        @Option(name: .customLong("config"), help: "A topic config, key=value (repeatable), e.g. cleanup.policy=compact.")
        var configs: [String] = []

        func run() async throws {
            var pairs: [String: String?] = [:]
            for config in configs {
                let parts = config.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--config expects key=value, got \(config)") }
                pairs[String(parts[0])] = String(parts[1])
            }
            let request = CreateTopicsRequest(topics: [.init(name: name, partitions: partitions, configs: pairs)])
            let response = try await connection.client.request(.createTopics, version: 4, body: { request.encode(&$0, version: 4) }) {
                try CreateTopicsResponse.decode(&$0, version: 4)
            }
            for topic in response.topics {
                guard topic.errorCode == .none else {
                    print("error: \(topic.name): \(topic.message ?? "\(topic.errorCode)")")
                    throw ExitCode.failure
                }
                print("created \(topic.name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let metadata = try await fetchMetadata(connection.client, topics: nil)
            for name in metadata.topics.compactMap(\.name).sorted() { print(name) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's partitions with their log start and end offsets.")
        @OptionGroup var connection: Connection
        @Argument(help: "Topic names (default: all).") var names: [String] = []

        func run() async throws {
            let client = try connection.client
            let metadata = try await fetchMetadata(client, topics: names.isEmpty ? nil : names)
            // Asked by name (Metadata v4–7), every answer names its topic.
            for topic in metadata.topics.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
                let name = topic.name ?? "?"
                guard topic.errorCode == .none else {
                    print("\(name): \(topic.errorCode)")
                    continue
                }
                let starts = try await offsets(client, topic: name, partitions: topic.partitions, at: ListOffsetsRequest.earliest)
                let ends = try await offsets(client, topic: name, partitions: topic.partitions, at: ListOffsetsRequest.latest)
                print("topic \(name): \(topic.partitions.count) partition(s)")
                for partition in topic.partitions.sorted() {
                    let start = starts[partition] ?? -1, end = ends[partition] ?? -1
                    print("  partition \(partition): log start \(start), log end \(end), records \(end - start)")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete topics and all their data.")
        @OptionGroup var connection: Connection
        @Argument(help: "Topic names.") var names: [String]

        func run() async throws {
            let request = DeleteTopicsRequest(names: names)
            let response = try await connection.client.request(.deleteTopics, version: 3, body: { request.encode(&$0, version: 3) }) {
                try DeleteTopicsResponse.decode(&$0, version: 3)
            }
            var failed = false
            for topic in response.topics {
                if topic.errorCode == .none { print("deleted \(topic.name)") } else {
                    print("error: \(topic.name): \(topic.errorCode)")
                    failed = true
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}

private func fetchMetadata(_ client: KafkaAdminClient, topics: [String]?) async throws -> MetadataResponse {
    let request = MetadataRequest(topics: topics, allowAutoTopicCreation: false)
    return try await client.request(.metadata, version: 5, body: { request.encode(&$0, version: 5) }) {
        try MetadataResponse.decode(&$0, version: 5)
    }
}

private func offsets(_ client: KafkaAdminClient, topic: String, partitions: [Int32], at timestamp: Int64) async throws -> [Int32: Int64] {
    let request = ListOffsetsRequest(topics: [(topic, partitions.map { .init(partition: $0, timestamp: timestamp) })])
    let response = try await client.request(.listOffsets, version: 2, body: { request.encode(&$0, version: 2) }) {
        try ListOffsetsResponse.decode(&$0, version: 2)
    }
    var result: [Int32: Int64] = [:]
    for topic in response.topics { for partition in topic.partitions where partition.errorCode == .none { result[partition.partition] = partition.offset } }
    return result
}
