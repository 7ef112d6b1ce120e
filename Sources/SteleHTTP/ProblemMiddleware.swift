import Hummingbird

/// Whatever a route throws becomes problem details: Hummingbird's own errors (an unknown route,
/// a missing parameter) keep their status; anything else is a 500 that names the error, so no
/// client ever has to parse a bare error page.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return JSONResponse.problem(error.status, error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return JSONResponse.problem(.internalServerError, "internal error", detail: "\(error)")
        }
    }
}
