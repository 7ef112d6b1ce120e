@testable import SteleViews

/// View definition files as an operator writes them, and the SQL a query route receives.
func fuzzViews(_ bytes: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? ViewDefinition.parse(text, file: "fuzz.sql", defaultName: "fuzz")
    _ = try? SQLScript.parse(text)
    _ = try? QueryGuard.check(text, dialect: .sqlite)
    _ = try? QueryGuard.check(text, dialect: .postgres)
    _ = try? NamedParameters.translate(text)
}
