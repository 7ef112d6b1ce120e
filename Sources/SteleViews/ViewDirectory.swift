import Foundation

/// The view definition files of a directory (`stele serve --views DIR`): every `*.sql` file,
/// in name order, except processor files (those with an `-- @processor` line, run by
/// `SteleProcessors`). A file with a mistake is reported and left out; the others load.
public struct ViewDirectory: Sendable {
    public var definitions: [ViewDefinition]
    /// Files refused, each with its file, line and reason.
    public var problems: [ViewDefinitionError]

    public static func load(_ path: String) throws(ViewDefinitionError) -> ViewDirectory {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ViewDefinitionError(file: path, line: 0, reason: "no such directory")
        }
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".sql") }.sorted() } catch {
            throw ViewDefinitionError(file: path, line: 0, reason: "cannot list the directory: \(error.localizedDescription)")
        }
        var directory = ViewDirectory(definitions: [], problems: [])
        var defined: [String: String] = [:]
        for file in files {
            let filePath = path + "/" + file
            if Self.declaresProcessor(filePath) { continue }
            do {
                let definition = try ViewDefinition.load(file: filePath)
                if let first = defined[definition.name] {
                    directory.problems.append(ViewDefinitionError(file: filePath, line: 1, reason: "view \(definition.name) is already defined in \(first)"))
                    continue
                }
                defined[definition.name] = filePath
                directory.definitions.append(definition)
            } catch {
                directory.problems.append(error)
            }
        }
        return directory
    }

    /// Whether the file is a processor's definition rather than a view's.
    static func declaresProcessor(_ path: String) -> Bool {
        guard let text = try? String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8) else { return false }
        // The rule of SteleProcessors' `ProcessorDefinition.declaresProcessor`: a line of blanks,
        // `--`, blanks, then `@processor` and a blank or the end.
        return text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).contains { line in
            let blank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
            var rest = line.drop(while: blank)
            guard rest.starts(with: "--".unicodeScalars) else { return false }
            rest = rest.dropFirst(2).drop(while: blank)
            guard rest.starts(with: "@processor".unicodeScalars) else { return false }
            return rest.dropFirst("@processor".unicodeScalars.count).first.map(blank) ?? true
        }
    }
}
