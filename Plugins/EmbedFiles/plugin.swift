import Foundation
import PackagePlugin

/// Embeds the files in a target's `Embedded/` directory as `EmbeddedFiles.<name>` string
/// constants (`openapi.json` becomes `EmbeddedFiles.openapi_json`), through `stele-embed`.
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let directory = module.directoryURL.appending(path: "Embedded")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path(percentEncoded: false))) ?? []
        let files = names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appending(path: $0) }
        guard !files.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        let arguments = [output.path(percentEncoded: false)] + files.map { file in
            let name = file.lastPathComponent.map { $0.isLetter || $0.isNumber ? $0 : "_" }
            return String(name) + "=" + file.path(percentEncoded: false)
        }
        return [.buildCommand(displayName: "Embedding \(files.count) file(s) in \(target.name)",
                              executable: try context.tool(named: "stele-embed").url,
                              arguments: arguments, inputFiles: files, outputFiles: [output])]
    }
}
