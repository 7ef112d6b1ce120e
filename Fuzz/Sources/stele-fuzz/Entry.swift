import Foundation

/// The decoders a run can fuzz, each with its own corpus under `Fuzz/Corpus/<name>`.
enum FuzzTarget: String, CaseIterable {
    /// Kafka request frames: the header and every request body decoder, produced batches included.
    case requests
    /// Record batches as a producer sends them and as recovery reads them from disk.
    case batches
    /// The four compression codecs' decompressors (and gzip/lz4/zstd round trips).
    case codecs
    /// View definition files, read-only query checks and named-parameter rewriting.
    case views
    /// HTTP request bodies: the JSON parser and the event-append body.
    case http

    /// Chosen once per process by `STELE_FUZZ_TARGET`; a missing or unknown name stops the run
    /// with a message rather than fuzzing the wrong decoder.
    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["STELE_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("STELE_FUZZ_TARGET must be one of \(allCases.map(\.rawValue).joined(separator: ", ")); got \"\(name)\"\n".utf8))
            exit(2)
        }
        return target
    }()
}

/// libFuzzer's entry point. Any trap is a bug; thrown errors are the decoders doing their job.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    switch FuzzTarget.selected {
    case .requests: fuzzRequest(bytes)
    case .batches: fuzzBatch(bytes)
    case .codecs: fuzzCodecs(bytes)
    case .views: fuzzViews(bytes)
    case .http: fuzzHTTP(bytes)
    }
    return 0
}
