import ArgumentParser
import Foundation
import SteleProcessors
import SteleWire

/// `stele processors`: the processors of a running `stele serve`, over its HTTP API.
struct ProcessorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processors",
        abstract: "List, inspect and rebuild the processors of a running server; check processor files.",
        subcommands: [List.self, Status.self, Rebuild.self, Check.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every processor with its state, lag and outputs, and refused definition files.")
        @OptionGroup var options: ViewsCommand.ServerOptions

        func run() async throws {
            let body = try await HTTPClient.request("GET", options.server + "/processors", token: options.token)
            guard case let .object(members) = body, case let .array(processors)? = members["processors"] else { throw ValidationError("unexpected answer: \(body.jsonText)") }
            func column(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
            print(column("PROCESSOR", 24) + column("STATE", 10) + column("LAG", 8) + column("WINDOWS", 9) + column("DEAD", 6) + "SOURCE -> OUTPUT")
            for case let .object(processor) in processors {
                print(column(text(processor["name"]), 24) + column(text(processor["state"]), 10) + column(text(processor["lag"] ?? .string("-")), 8)
                      + column(text(processor["windowsWritten"] ?? .integer(0)), 9) + column(text(processor["deadLettered"] ?? .integer(0)), 6)
                      + text(processor["source"]) + " -> " + text(processor["output"]))
                if case let .string(error)? = processor["lastError"] { print("  \(error)") }
            }
            if case let .array(refused)? = members["refused"] {
                for case let .object(problem) in refused { print("refused: \(text(problem["file"])):\(text(problem["line"])): \(text(problem["reason"]))") }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One processor's state, generation, checkpoint, watermark, lag and counts, as JSON.")
        @OptionGroup var options: ViewsCommand.ServerOptions
        @Argument(help: "The processor's name.") var name: String

        func run() async throws {
            print(try await HTTPClient.request("GET", options.server + "/processors/\(name)", token: options.token).jsonText)
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the source from its start under a new generation: every result is written again, under new event ids.",
            discussion: "Waits until the processor has caught up (lag 0), printing its progress. The results of earlier generations stay in the output category: nothing is deleted.")
        @OptionGroup var options: ViewsCommand.ServerOptions
        @Argument(help: "The processor's name.") var name: String
        @Flag(help: "Start the rebuild and return without waiting.") var detach = false

        func run() async throws {
            let answer = try await HTTPClient.request("POST", options.server + "/processors/\(name)/rebuild", token: options.token)
            guard case let .object(started) = answer, case let .integer(generation)? = started["generation"] else { throw ValidationError("unexpected answer: \(answer.jsonText)") }
            print("rebuild of \(name) started: generation \(generation)")
            if detach { return }
            var last = ""
            while true {
                guard case let .object(status) = try await HTTPClient.request("GET", options.server + "/processors/\(name)", token: options.token) else {
                    throw ValidationError("unexpected answer from GET /processors/\(name)")
                }
                if case .string("failed")? = status["state"] { print("failing, retrying: \(text(status["lastError"]))") }
                let line = "read \(text(status["eventsRead"] ?? .integer(0))) events, \(text(status["windowsWritten"] ?? .integer(0))) windows written, lag \(text(status["lag"] ?? .string("?")))"
                if line != last { print(line); last = line }
                if status["generation"] == .integer(generation), status["lag"] == .integer(0) { return }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Parse processor definition files without a server; prints file:line: reason for each mistake.")
        @Argument(help: "Definition files, or directories (their processor files).") var paths: [String]

        func run() throws {
            var problems: [String] = []
            var files: [String] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.filter { $0.hasSuffix(".sql") }.sorted().map { path + "/" + $0 }.filter { file in
                        (try? String(contentsOf: URL(fileURLWithPath: file), encoding: .utf8)).map(ProcessorDefinition.declaresProcessor) ?? false
                    }
                } else {
                    files.append(path)
                }
            }
            for file in files {
                do {
                    let definition = try ProcessorDefinition.load(file: file)
                    print("ok: \(file) (processor \(definition.name): \(definition.source) -> \(definition.output), \(definition.resultNames.joined(separator: ", ")))")
                } catch { problems.append(error.description) }
            }
            problems.forEach { print($0) }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
