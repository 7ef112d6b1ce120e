import ArgumentParser
import Foundation
import NIOCore
import NIOSSL
import SteleCore
import SteleSecurity
#if canImport(Glibc)
import Glibc
#endif

/// `stele bench tls`: what TLS and SASL cost, measured against the same broker's plaintext
/// listener in the same run: produce and fetch throughput of 1 KiB records over PLAINTEXT and
/// over SASL_SSL (SCRAM-SHA-512 login, then TLS 1.3), for each flush policy; and SCRAM logins
/// per second over TLS against TLS handshakes alone.
struct TLSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Produce/fetch over SASL_SSL against PLAINTEXT on one broker, and SCRAM logins per second.")

    @Option(help: "Seconds per produce case and per handshake case.")
    var seconds = 3.0

    @Option(help: "Connections producing at once.")
    var connections = 8

    @Option(help: "Records per produce request.")
    var batchRecords = 100

    @Option(help: "Flush policies to measure, comma separated.")
    var flush = "always,os"

    @Option(help: "Scratch directory for the broker's data and certificate.")
    var directory = "./stele-bench"

    func run() async throws {
        let scratch = directory + "/tls-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (certificate, key) = try Self.makeCertificate(in: scratch)
        let trust = try NIOSSLContext(configuration: {
            var client = TLSConfiguration.makeClientConfiguration()
            client.trustRoots = .file(certificate)
            return client
        }())
        print("stele bench tls — \(ProcessInfo.processInfo.activeProcessorCount) cores, \(connections) producer connections, batches of \(batchRecords) records of 1 KiB, acks=all; SASL_SSL: SCRAM-SHA-512 login, TLS 1.3")
        var table = Table(["flush", "listener", "records/s", "MB/s", "× PLAINTEXT", "fetch MB/s", "fetch × PLAINTEXT"])
        table.header()
        for policy in flush.split(separator: ",").map(String.init) {
            let data = scratch + "/data-\(policy)"
            try Self.createUser(data: data)
            let broker = try BrokerProcess(directory: data, flush: policy, arguments: [
                "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0", "--tls-cert", certificate, "--tls-key", key,
                "--sasl-mechanisms", "SCRAM-SHA-512",
            ], keep: true)
            defer { broker.stop() }
            guard let plain = broker.ports["PLAINTEXT"], let secured = broker.ports["SASL_SSL"] else { throw ValidationError("listeners: \(broker.ports)") }
            let clear = try await measure(port: plain, tls: nil, topic: "clear")
            let tls = try await measure(port: secured, tls: trust, topic: "tls")
            table.add([policy, "PLAINTEXT", formatRate(clear.records), megabytes(clear.bytes), "1.00", megabytes(clear.fetch), "1.00"])
            table.add([policy, "SASL_SSL", formatRate(tls.records), megabytes(tls.bytes), String(format: "%.2f", tls.records / clear.records),
                       megabytes(tls.fetch), String(format: "%.2f", tls.fetch / clear.fetch)])
        }
        // Logins: a new connection each time, 4 at once, SCRAM-SHA-512 at 4096 iterations.
        let data = scratch + "/data-logins"
        try Self.createUser(data: data)
        let broker = try BrokerProcess(directory: data, flush: "os", arguments: [
            "--listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0", "--tls-cert", certificate, "--tls-key", key,
            "--sasl-mechanisms", "SCRAM-SHA-512",
        ], keep: true)
        defer { broker.stop() }
        guard let secured = broker.ports["SASL_SSL"] else { throw ValidationError("no SASL_SSL listener") }
        let handshakes = try await connectionsPerSecond(port: secured, tls: trust, login: false)
        let logins = try await connectionsPerSecond(port: secured, tls: trust, login: true)
        print("")
        var logTable = Table(["new connections", "per second", "× TLS handshake alone"])
        logTable.header()
        logTable.add(["TLS handshake + ApiVersions", formatRate(handshakes), "1.00"])
        logTable.add(["TLS + SCRAM-SHA-512 login", formatRate(logins), String(format: "%.2f", logins / handshakes)])
        print("× PLAINTEXT: the same broker's PLAINTEXT listener, same run; fetch: one consumer reading the topic from offset 0 in 1 MiB fetches")
    }

    private func measure(port: Int, tls: NIOSSLContext?, topic: String) async throws -> (records: Double, bytes: Double, fetch: Double) {
        let payload = batch()
        let (sent, elapsed) = try await BenchLoops.produce(connections: connections, seconds: seconds,
                                                           open: { try await open(port: port, tls: tls) },
                                                           send: { try await BenchLoops.produceBatch($0, topic: topic, batch: payload) })
        let reader = try await open(port: port, tls: tls)
        let fetch = try await BenchLoops.readAll { offset in
            let (records, highWatermark) = try await reader.fetch(topic: topic, partition: 0, offset: offset, maxBytes: 1 << 20)
            let next = records.readableBytes > 0 ? try ReadBench.nextOffset(after: Array(records.readableBytesView)) : offset
            return (records.readableBytes, next, highWatermark)
        }.bytes
        await reader.close()
        return (Double(sent * batchRecords) / elapsed, Double(sent * payload.readableBytes) / elapsed, fetch)
    }

    private func open(port: Int, tls: NIOSSLContext?) async throws -> KafkaConnection {
        let connection = try await KafkaConnection(host: "127.0.0.1", port: port, tls: tls)
        if tls != nil { try await connection.login(user: "bench", password: "bench-password", mechanism: .sha512) }
        return connection
    }

    private func connectionsPerSecond(port: Int, tls: NIOSSLContext, login: Bool) async throws -> Double {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        let connection = try await KafkaConnection(host: "127.0.0.1", port: port, tls: tls)
                        if login {
                            try await connection.login(user: "bench", password: "bench-password", mechanism: .sha512)
                        } else {
                            _ = try await connection.send(.apiVersions, version: 0) { _ in }
                        }
                        await connection.close()
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(count) / elapsedSeconds(since: start)
    }

    private func batch() -> ByteBuffer {
        var builder = RecordBatchBuilder(baseTimestamp: wallClockNow())
        let value = [UInt8](repeating: 0x61, count: 1024)
        for index in 0..<batchRecords { builder.append(key: Array("key-\(index % 64)".utf8), value: value) }
        return ByteBuffer(bytes: builder.build())
    }

    /// A self-signed P-256 certificate for localhost and 127.0.0.1, made with openssl.
    static func makeCertificate(in directory: String) throws -> (String, String) {
        let (certificate, key) = (directory + "/cert.pem", directory + "/key.pem")
        try run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                 "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
                                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        return (certificate, key)
    }

    /// The benchmark's SCRAM user, made with `stele users create` on the broker's directory.
    static func createUser(data: String) throws {
        try? FileManager.default.removeItem(atPath: data)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        try run(executable, ["users", "create", "bench", "--data-dir", data, "--mechanism", "SCRAM-SHA-512"], input: "bench-password\n")
    }

    static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("\(arguments.prefix(3).joined(separator: " ")) failed") }
    }
}
