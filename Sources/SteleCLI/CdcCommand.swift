import ArgumentParser
import Foundation
import Logging
import Stele
import SteleCDC

/// `stele cdc postgres`: change data capture from PostgreSQL into a Stele's event store.
struct CdcCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdc",
        abstract: "Capture a database's changes into a Stele's event store (change data capture).",
        subcommands: [Postgres.self]
    )

    struct Postgres: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "postgres",
            abstract: "Snapshot PostgreSQL tables, then follow their changes (logical replication, pgoutput): a category per table, a stream per primary key.",
            discussion: """
                Each source transaction's events land in one atomic append with the capture's checkpoint \
                (in CHECKPOINT-CATEGORY/SLOT); the slot is confirmed only after that, so SIGKILL of the capture, \
                of Stele or of PostgreSQL loses and duplicates nothing. Needs wal_level=logical. A bearer token \
                for the target is read from STELE_TOKEN.
                """)
        @Option(help: "The database, postgres://user:password@host:port/database (sslmode etc. as libpq).") var url: String
        @Option(help: "Tables to capture, comma-separated (schema.table or table); each needs a primary key.") var tables: String
        @Option(help: "The Stele whose event store receives the events (its HTTP API).") var target = "http://127.0.0.1:8080"
        @Option(help: "The logical replication slot (created if missing; PostgreSQL keeps WAL for it until confirmed).") var slot = "stele_cdc"
        @Option(help: "The publication (created or set to exactly --tables); the slot's name when absent.") var publication: String?
        @Option(help: "Put before each table's name to make its category.") var categoryPrefix = ""
        @Option(help: "The category of the capture's checkpoint stream (its stream id is the slot).") var checkpointCategory = "cdc-checkpoints"
        @Option(help: "initial: read the tables' rows first; never: only changes from the slot's creation on.") var snapshot = "initial"
        @Option(help: "Rows per snapshot chunk.") var chunkRows = 1000
        @Option(help: "An append is cut near this many bytes (keep below the target's 1 MiB request limit).") var maxAppendBytes = 900_000
        @Option(help: "How long to wait, in milliseconds, when a pass found nothing new.") var idleMs = 100

        /// Whether `error` needs the operator: the source's data, the capture's own setup or the
        /// target's answer refuse it, and would again.
        static func isPermanent(_ error: any Error) -> Bool {
            switch error {
            case let error as CaptureError: !error.isTransient
            case is PgOutputError: true
            case let error as EventStoreError:
                switch error {
                case .invalidRequest, .idempotencyConflict, .notAnEventCategory, .wrongExpectedVersion: true
                case .storage, .closed, .checkpointOutOfRange: false
                }
            default: false
            }
        }

        func validate() throws {
            guard ["initial", "never"].contains(snapshot) else { throw ValidationError("--snapshot must be initial or never") }
            guard (1...1_000_000).contains(chunkRows) else { throw ValidationError("--chunk-rows must be 1…1000000") }
            guard maxAppendBytes >= 1024 else { throw ValidationError("--max-append-bytes must be at least 1024") }
            guard idleMs > 0 else { throw ValidationError("--idle-ms must be positive") }
            guard !slot.isEmpty, slot.utf8.count <= 63, slot.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }) else {
                throw ValidationError("--slot must be 1…63 lower-case letters, digits or underscores (PostgreSQL's rule for slot names)")
            }
            guard let url = URL(string: target), ["http", "https"].contains(url.scheme ?? "") else { throw ValidationError("--target must be an http:// or https:// URL") }
            guard !tableList.isEmpty else { throw ValidationError("--tables names no table") }
        }

        var tableList: [String] {
            tables.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func run() async throws {
            var logger = Logger(label: "stele.cdc")
            logger.logLevel = ProcessInfo.processInfo.environment["STELE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            var options = ChangeCapture.Options(tables: tableList)
            options.categoryPrefix = categoryPrefix
            options.checkpointCategory = checkpointCategory
            options.snapshot = snapshot == "initial"
            options.chunkRows = chunkRows
            options.maxAppendBytes = maxAppendBytes
            options.idle = .milliseconds(idleMs)
            let store = EventStore(RemoteEventStorage(url: URL(string: target)!, token: ProcessInfo.processInfo.environment["STELE_TOKEN"]))
            var announced = false
            while true {
                var source: PostgresChangeSource?
                do {
                    let connected = try await PostgresChangeSource.connect(url: url, slot: slot, publication: publication ?? slot, logger: logger)
                    source = connected
                    let capture = ChangeCapture(source: connected, store: store, options: options, logger: logger)
                    try await capture.prepare()
                    if !announced {
                        print("capturing \(tableList.joined(separator: ", ")) → \(target) (slot \(slot))")
                        announced = true
                    }
                    var lastReport = ContinuousClock.now
                    while true {
                        let worked = try await capture.pass()
                        if ContinuousClock.now - lastReport > .seconds(10) {
                            print("appended \(capture.eventsAppended) events of \(capture.transactionsAppended) transactions")
                            lastReport = .now
                        }
                        if !worked { try await Task.sleep(for: options.idle) }
                    }
                } catch {
                    // Refusals that waiting cannot mend stop the capture with the reason; a lost
                    // connection to either side is waited out.
                    if Self.isPermanent(error) {
                        await source?.close()
                        throw error
                    }
                    logger.warning("capture interrupted: \(String(reflecting: error)); reconnecting in 1 s")
                    await source?.close()
                }
                try await Task.sleep(for: .seconds(1))
            }
        }

    }
}
