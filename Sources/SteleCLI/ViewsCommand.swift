import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SteleViews
import SteleWire

/// `stele views`: the views of a running `stele serve`, over its HTTP API.
struct ViewsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "views",
        abstract: "List, inspect, rebuild and retry the views of a running server.",
        subcommands: [List.self, Status.self, Rebuild.self, Retry.self, Check.self])

    struct ServerOptions: ParsableArguments {
        @Option(help: "The server's HTTP address.")
        var server = "http://127.0.0.1:8080"

        @Option(help: "A bearer token from 'stele tokens create', for a server with --authorizer acl (default: $STELE_TOKEN).")
        var token = ProcessInfo.processInfo.environment["STELE_TOKEN"]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every view with its state and lag, and refused definition files.")
        @OptionGroup var options: ServerOptions

        func run() async throws {
            let body = try await HTTPClient.request("GET", options.server + "/views", token: options.token)
            guard case let .object(members) = body, case let .array(views)? = members["views"] else { throw ValidationError("unexpected answer: \(body.jsonText)") }
            print("VIEW".padding(toLength: 24, withPad: " ", startingAt: 0) + "STATE".padding(toLength: 12, withPad: " ", startingAt: 0) + "LAG  PARKED")
            for case let .object(view) in views {
                let lag = view["lag"].flatMap { if case let .object(lag) = $0 { lag["events"] } else { nil } }
                let parked = view["parked"].flatMap { if case let .array(parked) = $0 { parked.count } else { nil } } ?? 0
                print(text(view["name"]).padding(toLength: 24, withPad: " ", startingAt: 0) + text(view["state"]).padding(toLength: 12, withPad: " ", startingAt: 0)
                      + text(lag).padding(toLength: 5, withPad: " ", startingAt: 0) + String(parked))
                if case let .string(reason)? = view["reason"] { print("  \(reason)") }
            }
            if case let .array(refused)? = members["refused"] {
                for case let .object(problem) in refused { print("refused: \(text(problem["file"])):\(text(problem["line"])): \(text(problem["reason"]))") }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One view's state, lag, parked events and rebuild progress, as JSON.")
        @OptionGroup var options: ServerOptions
        @Argument(help: "The view's name.") var name: String

        func run() async throws {
            print(try await HTTPClient.request("GET", options.server + "/views/\(name)", token: options.token).jsonText)
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a view's parked events again (after a fix).")
        @OptionGroup var options: ServerOptions
        @Argument(help: "The view's name.") var name: String

        func run() async throws {
            print(try await HTTPClient.request("POST", options.server + "/views/\(name)/retry", token: options.token).jsonText)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Parse view definition files without a server; prints file:line: reason for each mistake.")
        @Argument(help: "Definition files or directories.") var paths: [String]

        func run() throws {
            var problems: [String] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    let loaded = try ViewDirectory.load(path)
                    problems += loaded.problems.map(\.description)
                    loaded.definitions.forEach { print("ok: \($0.file) (view \($0.name): \($0.eventTypes.joined(separator: ", ")))") }
                } else {
                    do {
                        let definition = try ViewDefinition.load(file: path)
                        print("ok: \(path) (view \(definition.name): \(definition.eventTypes.joined(separator: ", ")))")
                    } catch { problems.append(error.description) }
                }
            }
            problems.forEach { print($0) }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the log into new tables and swap them in; queries keep answering from the old ones until then.",
            discussion: "Shows a progress bar with events/s and the time left. A rebuild interrupted by a crash resumes when the server restarts.")
        @OptionGroup var options: ServerOptions
        @Argument(help: "The view's name.") var name: String
        @Flag(help: "Start the rebuild and return without waiting.") var detach = false

        func run() async throws {
            let started = Date()
            var answer = try await HTTPClient.request("POST", options.server + "/views/\(name)/rebuild", token: options.token)
            if detach { print("rebuild of \(name) started"); return }
            let terminal = isatty(STDOUT_FILENO) == 1
            var lastLine = ""
            var first = true
            while true {
                if !first {
                    try await Task.sleep(for: .milliseconds(250))
                    answer = try await HTTPClient.request("GET", options.server + "/views/\(name)", token: options.token)
                }
                first = false
                guard case let .object(status) = answer else { continue }
                guard case let .object(rebuild)? = status["rebuild"] else {
                    if case .string("failed")? = status["state"] { throw ValidationError("view \(name) failed: \(text(status["reason"]))") }
                    if terminal { print("\r" + String(repeating: " ", count: lastLine.count), terminator: "\r") }
                    print(String(format: "rebuilt %@ in %.1f s", name, Date().timeIntervalSince(started)))
                    return
                }
                if case .string("failed")? = rebuild["phase"] { throw ValidationError("the rebuild of \(name) failed: \(text(rebuild["reason"]))") }
                let line = ProgressBar.line(applied: number(rebuild["applied"]), total: number(rebuild["total"]),
                                            rate: number(rebuild["eventsPerSecond"]), secondsLeft: rebuild["secondsLeft"].flatMap { $0 == .null ? nil : number($0) },
                                            phase: text(rebuild["phase"]))
                if terminal {
                    print("\r" + line + String(repeating: " ", count: max(0, lastLine.count - line.count)), terminator: "")
                    fflush(nil)  // flushes every stream; `stdout` is not concurrency-safe to name
                } else if line != lastLine {
                    print(line)
                }
                lastLine = line
            }
        }
    }
}

/// `[██████████░░░░░░░░░░]  52%  520,000/1,000,000 events  210,000 events/s  ETA 2.3 s`
enum ProgressBar {
    static func line(applied: Double, total: Double, rate: Double, secondsLeft: Double?, phase: String, width: Int = 30) -> String {
        let fraction = total > 0 ? min(1, applied / total) : 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let eta = phase == "swapping" ? "swapping" : secondsLeft.map { String(format: "ETA %.1f s", $0) } ?? "ETA …"
        return "[\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  \(grouped(applied))/\(grouped(total)) events  \(grouped(rate)) events/s  \(eta)"
    }

    static func grouped(_ value: Double) -> String {
        let digits = String(Int64(value.rounded()))
        var output = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0, character != "-" { output.append(",") }
            output.append(character)
        }
        return String(output.reversed())
    }
}

func text(_ value: JSONValue?) -> String {
    switch value {
    case let .string(text)?: text
    case let .integer(number)?: String(number)
    case let .number(number)?: String(number)
    case nil, .null?: "-"
    case let other?: other.jsonText
    }
}

private func number(_ value: JSONValue?) -> Double {
    switch value {
    case let .integer(number)?: Double(number)
    case let .number(number)?: number
    default: 0
    }
}

/// The CLI's side of the HTTP API: a request, its JSON answer, problem details as errors.
enum HTTPClient {
    static func request(_ method: String, _ url: String, token: String? = nil) async throws -> JSONValue {
        guard let address = URL(string: url) else { throw ValidationError("not a URL: \(url)") }
        var request = URLRequest(url: address)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response): (Data, URLResponse)
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw ValidationError("cannot reach \(url): \(error.localizedDescription) (is `stele serve` running?)")
        }
        let body = JSONValue.parse(Array(data)) ?? .string(String(decoding: data, as: UTF8.self))
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            if case let .object(problem) = body { throw ValidationError("\(status) \(text(problem["title"]))\(problem["detail"].map { ": " + text($0) } ?? "")") }
            throw ValidationError("\(status) from \(url)")
        }
        return body
    }
}
