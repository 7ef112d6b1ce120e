@testable import SteleHTTP
import SteleViews
import SteleWire

/// HTTP request bodies: the hand-written JSON parser (every body and every event payload a view
/// binds goes through it) and the event-append body. A parsed value written back as JSON must
/// parse to the same value.
func fuzzHTTP(_ bytes: UnsafeBufferPointer<UInt8>) {
    let body = Array(bytes)
    if let value = JSONValue.parse(body) {
        let again = JSONValue.parse(Array(value.jsonText.utf8))
        precondition(again == value, "JSON did not round-trip: \(value.jsonText)")
    }
    _ = StreamRoutes.events(from: body)
}
