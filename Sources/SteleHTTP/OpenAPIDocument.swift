/// Stele's HTTP API as an OpenAPI 3.1 document, served at `/openapi.json`. The document is
/// `Embedded/openapi.json` (embedded in the binary as `EmbeddedFiles.swift` by `scripts/embed-files.py`, which `scripts/test` checks);
/// `scripts/openapi-test.sh` checks the live server against it and `OpenAPIDocumentTests` the
/// wire types.
enum OpenAPIDocument {
    static let json = EmbeddedFiles.openapi_json
}
