import Hummingbird
import SteleProcessors
import SteleWire

/// `/processors`: list, status and rebuild. A processor's outputs are events of its output
/// category, followed live over `GET /categories/{output}/subscribe` like any other.
struct ProcessorRoutes: Sendable {
    let processors: ProcessorService

    func register(on router: Router<SteleRequestContext>) {
        router.get("processors") { _, _ in
            var statuses: [JSONValue] = []
            for processor in processors.processors { statuses.append(await processor.statusJSON()) }
            let refused = processors.refusedDefinitions.map { problem -> JSONValue in
                .object(["file": .string(problem.file), "line": .integer(Int64(problem.line)), "reason": .string(problem.reason)])
            }
            return JSONResponse.ok(.object(["processors": .array(statuses), "refused": .array(refused)]))
        }
        router.get("processors/:name") { _, context in
            try await withProcessor(context) { processor in JSONResponse.ok(await processor.statusJSON()) }
        }
        router.post("processors/:name/rebuild") { _, context in
            try await withProcessor(context) { processor in
                do { try await processor.rebuild() } catch let error as ProcessorServiceError {
                    return JSONResponse.problem(.conflict, "the rebuild could not start", detail: "\(error)")
                } catch {
                    return JSONResponse.problem(.internalServerError, "the rebuild could not start", detail: "\(error)")
                }
                return JSONResponse.ok(await processor.statusJSON(), status: .accepted)
            }
        }
    }

    private func withProcessor(_ context: SteleRequestContext, _ body: (RunningProcessor) async throws -> Response) async throws -> Response {
        let name = try StreamRoutes.pathParameter(context, "name")
        guard let processor = processors.processor(named: name) else {
            return JSONResponse.problem(.notFound, "no such processor", detail: "no processor is named \(name)")
        }
        return try await body(processor)
    }
}
