import ArgumentParser
import Foundation
import SteleBroker
import SteleCore

/// `stele mirror`: keeps mirror topics on a Stele target at their source's offsets, and
/// `stele mirror promote` ends mirroring of topics for a failover.
struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Mirror topics from a Kafka-protocol cluster into a Stele keeping their offsets, or into any Kafka-protocol cluster translating them.",
        subcommands: [Run.self, Promote.self],
        defaultSubcommand: Run.self
    )

    /// HOST:PORT, an IPv6 address in brackets (`[::1]:9092`, the brackets not part of the host).
    static func address(_ text: String, _ flag: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), !text[..<colon].isEmpty, let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { throw ValidationError("\(flag) must be HOST:PORT") }
        var host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2 { host = host.dropFirst().dropLast() }
        guard !host.contains(":") || text[..<colon].hasPrefix("[") else { throw ValidationError("\(flag): an IPv6 address goes in brackets, [ADDRESS]:PORT") }
        return (String(host), port)
    }

    /// Writes one line to standard output at once, unbuffered: what a mirror said before a
    /// SIGKILL is in its log file (print's buffer would die with the process).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func pattern(_ text: String) throws -> Regex<AnyRegexOutput> {
        do { return try Regex(text) } catch { throw ValidationError("\(text) is not a regular expression: \(error)") }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Copy the source's topics into mirror topics of the target until stopped (SIGKILL-safe: the target's log end is the progress).")
        @Option(help: "The source cluster, HOST:PORT (any Kafka-protocol broker).") var source: String
        @Option(help: "The target, HOST:PORT: a Stele (--offsets keep), or any Kafka-protocol broker (--offsets translate).") var target: String
        @Option(help: ArgumentHelp("How to connect to the source: a client properties file in librdkafka's names (security.protocol, ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.endpoint.identification.algorithm, sasl.mechanism, sasl.username, sasl.password); in clear when absent.", valueName: "file"))
        var sourceConfig: String?
        @Option(help: ArgumentHelp("How to connect to the target, the same way (under ACLs the principal needs CLUSTER_ACTION on the cluster).", valueName: "file"))
        var targetConfig: String?
        @Option(help: "Topics to mirror: a regular expression matched against whole names (internal __ topics never).")
        var topics = ".*"
        @Option(help: "Consumer groups whose committed offsets are copied (for the mirrored topics): a regular expression over whole group ids; none when absent.")
        var groups: String?
        @Option(help: "The shortest time, in milliseconds, between passes that copy nothing (a caught-up pass waits up to 500 ms at the source for new records first).") var idleMs = 200
        @Option(help: "Bytes fetched from the source per partition and pass (at least one batch).") var fetchMaxBytes: Int32 = 1 << 20
        @Option(help: ArgumentHelp("keep: mirror topics on a Stele target at the source's offsets, byte for byte; translate: ordinary topics on any Kafka-protocol target, which assigns its own offsets, written in transactions with the progress and the offset translation (committed data only).", valueName: "keep|translate"))
        var offsets = "keep"
        @Option(help: "With --offsets translate: the target's transactional id for this mirror (one per source; a second mirror with the same id fences the first).")
        var transactionalId: String?
        @Option(help: "With --offsets translate: the compacted target topic holding the progress and the offset translation.")
        var progressTopic = "stele-mirror-progress"

        func run() async throws {
            let sourceEndpoint = try KafkaEndpoint(address: source, flag: "--source", configFile: sourceConfig, configFlag: "--source-config")
            let targetEndpoint = try KafkaEndpoint(address: target, flag: "--target", configFile: targetConfig, configFlag: "--target-config")
            let pattern = try MirrorCommand.pattern(topics)
            let groupPattern = try groups.map(MirrorCommand.pattern)
            guard idleMs > 0 else { throw ValidationError("--idle-ms must be positive") }
            guard fetchMaxBytes > 0 else { throw ValidationError("--fetch-max-bytes must be positive") }
            guard offsets == "keep" || offsets == "translate" else { throw ValidationError("--offsets must be keep or translate, not \(offsets)") }
            guard offsets == "translate" || transactionalId == nil else { throw ValidationError("--transactional-id goes with --offsets translate") }
            let translation = offsets == "translate" ? (transactionalId ?? "stele-mirror \(source)", progressTopic) : nil
            if let translation {
                guard !translation.0.isEmpty else { throw ValidationError("--transactional-id must not be empty") }
                if let problem = TopicName.validate(progressTopic) { throw ValidationError("--progress-topic: \(problem)") }
            }
            MirrorCommand.say("mirroring \(source) (\(sourceEndpoint.properties)) → \(target) (\(targetEndpoint.properties)), topics matching \(topics)"
                + (groups.map { ", groups matching \($0)" } ?? "") + (translation == nil ? ", offsets kept" : ", offsets translated"))
            do {
                try await MirrorCommand.mirror(source: sourceEndpoint, sourceAddress: source, target: targetEndpoint,
                                               topics: pattern, groups: groupPattern, fetchMaxBytes: fetchMaxBytes, idle: .milliseconds(idleMs),
                                               translation: translation)
            } catch let error as MirrorError {
                // A refusal (a promoted topic, a source behind the target) is the operator's to fix.
                MirrorCommand.say("stele mirror: \(error)")
                throw ExitCode.failure
            }
        }
    }

    /// Mirrors until cancelled or refused for good (a ``MirrorError`` that is permanent, thrown):
    /// a lost or refused connection only makes it connect again a second later, resuming at the
    /// target's log end. `observe` hears each partition's progress (for lag).
    static func mirror(source: KafkaEndpoint, sourceAddress: String, target: KafkaEndpoint, topics: Regex<AnyRegexOutput>,
                       groups: Regex<AnyRegexOutput>?, fetchMaxBytes: Int32, idle: Duration,
                       translation: (transactionalId: String, progressTopic: String)? = nil,
                       log: @escaping (String) -> Void = { MirrorCommand.say($0) },
                       observe: @escaping (String, Int32, Int64, Int64, Int64?) -> Void = { _, _, _, _, _ in }) async throws {
        while !Task.isCancelled {
            var connections: [KafkaCluster] = []
            do {
                let sourceConnection = try await KafkaCluster.connect(source, clientId: "stele-mirror-source", requestTimeout: .seconds(60))
                connections.append(sourceConnection)
                // A translating mirror is an ordinary transactional producer to its target; the
                // client id `stele-mirror` is what a Stele target lets write at chosen offsets.
                let targetConnection = try await KafkaCluster.connect(target, clientId: translation == nil ? "stele-mirror" : "stele-mirror-translate",
                                                                      requestTimeout: .seconds(60))
                connections.append(targetConnection)
                var mirror: any MirrorPasses
                if let translation {
                    var translating = TranslatingMirror(source: sourceConnection, target: targetConnection, sourceAddress: sourceAddress, topics: topics,
                                                        transactionalId: translation.transactionalId, progressTopic: translation.progressTopic)
                    translating.maxBytes = fetchMaxBytes
                    translating.groups = groups
                    translating.log = log
                    translating.observe = observe
                    mirror = translating
                } else {
                    var keeping = Mirror(source: sourceConnection, target: targetConnection, sourceAddress: sourceAddress, topics: topics)
                    keeping.maxBytes = fetchMaxBytes
                    keeping.groups = groups
                    keeping.log = log
                    keeping.observe = observe
                    mirror = keeping
                }
                while !Task.isCancelled {
                    let started = ContinuousClock.now
                    let copied = try await mirror.pass()
                    _ = try await mirror.syncGroups()
                    // A caught-up pass has usually waited at the source already (a long poll);
                    // one that came back at once with nothing (no topic yet, a partition the
                    // source refused) waits here instead of asking again at once.
                    let elapsed = ContinuousClock.now - started
                    if copied == 0 && elapsed < idle { try await Task.sleep(for: idle - elapsed) }
                }
            } catch let error as MirrorError where error.permanent {
                for connection in connections { await connection.close() }
                throw error
            } catch is CancellationError {
                for connection in connections { await connection.close() }
                return
            } catch {
                for connection in connections { await connection.close() }
                // A connection lost or refused: the next attempt resumes at the target's log end.
                log("stele mirror: \(error); connecting again in 1 s")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Failover: make mirror topics of the target writable by producers (stop `stele mirror` first).")
        @Option(help: "The target, HOST:PORT: a Stele (--offsets keep), or any Kafka-protocol broker (--offsets translate).") var target: String
        @Option(help: ArgumentHelp("How to connect to the target: a client properties file, as for `stele mirror --target-config`.", valueName: "file"))
        var targetConfig: String?
        @Option(help: "Topics to promote: a regular expression matched against whole names.") var topics: String

        func run() async throws {
            let endpoint = try KafkaEndpoint(address: target, flag: "--target", configFile: targetConfig, configFlag: "--target-config")
            let pattern = try MirrorCommand.pattern(topics)
            let connection = try await endpoint.connect(clientId: "stele-mirror-promote", requestTimeout: .seconds(60))
            do {
                let names = try await connection.topicPartitions().keys.filter { (try? pattern.wholeMatch(in: $0)) != nil }.sorted()
                guard !names.isEmpty else { throw ValidationError("no topic of \(target) matches \(topics)") }
                var failed: [String] = []
                for name in names {
                    do {
                        try await connection.setTopicConfig(name, TopicConfig.mirrorStateKey, "promoted")
                        MirrorCommand.say("promoted \(name): producers may write to it, from its log end offset on")
                    } catch let error as MirrorError {
                        // The others are still promoted; running the command again retries these.
                        MirrorCommand.say("not promoted \(name): \(error)")
                        failed.append(name)
                    }
                }
                if !failed.isEmpty {
                    await connection.close()
                    throw ExitCode.failure
                }
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
    }
}

/// A mirror's work, pass by pass: ``Mirror`` (offsets kept) or ``TranslatingMirror``.
protocol MirrorPasses {
    /// Copies what the source has new; returns how much (0: caught up).
    mutating func pass() async throws -> Int
    /// Copies the committed offsets of the chosen groups; returns how many groups changed.
    mutating func syncGroups() async throws -> Int
}

extension Mirror: MirrorPasses {}
extension TranslatingMirror: MirrorPasses {}
