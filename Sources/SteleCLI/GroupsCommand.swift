import ArgumentParser
import SteleBroker
import SteleKafkaProtocol
import SteleServer

/// `stele groups list|describe`, over the Kafka protocol (like kafka-consumer-groups.sh).
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List consumer groups and show their members, committed offsets and lag.",
        subcommands: [List.self, Describe.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List consumer groups.")
        @OptionGroup var connection: TopicsCommand.Connection

        func run() async throws {
            let response = try await connection.client.request(.listGroups, version: 2, body: { ListGroupsRequest().encode(&$0, version: 2) }) {
                try ListGroupsResponse.decode(&$0, version: 2)
            }
            for group in response.groups { print(group.groupId) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group's state, members, and per partition its committed offset, log end offset and lag.")
        @OptionGroup var connection: TopicsCommand.Connection
        @Argument(help: "Group id.") var group: String

        func run() async throws {
            let client = try connection.client
            let describe = DescribeGroupsRequest(groups: [group])
            let description = try await client.request(.describeGroups, version: 4, body: { describe.encode(&$0, version: 4) }) {
                try DescribeGroupsResponse.decode(&$0, version: 4)
            }
            guard let info = description.groups.first, info.state != "Dead" else {
                print("error: group \(group) does not exist")
                throw ExitCode.failure
            }
            print("group \(group): \(info.state), protocol \(info.protocolName.isEmpty ? "-" : info.protocolName), \(info.members.count) member(s)")
            for member in info.members { print("  member \(member.memberId) (client \(member.clientId))") }
            let fetch = OffsetFetchRequest(groupId: group, topics: nil)
            let committed = try await client.request(.offsetFetch, version: 5, body: { fetch.encode(&$0, version: 5) }) {
                try OffsetFetchResponse.decode(&$0, version: 5)
            }
            print("  TOPIC PARTITION COMMITTED LOG-END LAG")
            for topic in committed.topics.sorted(by: { $0.name < $1.name }) {
                let request = ListOffsetsRequest(topics: [(topic.name, topic.partitions.map { .init(partition: $0.partition, timestamp: ListOffsetsRequest.latest) })])
                let ends = try await client.request(.listOffsets, version: 2, body: { request.encode(&$0, version: 2) }) {
                    try ListOffsetsResponse.decode(&$0, version: 2)
                }
                let endByPartition = Dictionary(ends.topics.flatMap(\.partitions).map { ($0.partition, $0.offset) }, uniquingKeysWith: { $1 })
                for partition in topic.partitions.sorted(by: { $0.partition < $1.partition }) {
                    let end = endByPartition[partition.partition] ?? -1
                    let lag = ConsumerLag.records(committed: partition.offset, logEnd: end).map(String.init) ?? "-"
                    print("  \(topic.name) \(partition.partition) \(partition.offset) \(end) \(lag)")
                }
            }
        }
    }
}
