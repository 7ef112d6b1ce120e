import Testing
import SteleCore

/// Known answers from RFC 3720 (iSCSI) appendix B.4 and the standard check value.
private let knownAnswers: [(bytes: [UInt8], crc: UInt32)] = [
    ([], 0),
    (Array("123456789".utf8), 0xE306_9283),
    ([UInt8](repeating: 0x00, count: 32), 0x8A91_36AA),
    ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
    ((0..<32).map { UInt8($0) }, 0x46DD_794E),
]


private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
}

/// Bit-at-a-time definition, independent of both table constructions.
private func referenceCRC(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        c ^= UInt32(byte)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
}

private func software(_ bytes: ArraySlice<UInt8>, _ crc: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { CRC32C.softwareChecksum($0, continuing: crc) }
}

private func hardware(_ bytes: ArraySlice<UInt8>, _ crc: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { CRC32C.hardwareChecksum($0, continuing: crc) }
}

@Suite struct CRC32CTests {
    @Test func softwareKnownAnswers() {
        for (bytes, crc) in knownAnswers {
            #expect(software(bytes[...]) == crc)
            #expect(referenceCRC(bytes[...]) == crc)
        }
    }

    @Test(.enabled(if: CRC32C.isHardwareAccelerated))
    func hardwareKnownAnswers() {
        for (bytes, crc) in knownAnswers {
            #expect(hardware(bytes[...]) == crc)
        }
    }

    @Test func dispatchingOverloadsAgree() {
        for (bytes, crc) in knownAnswers {
            #expect(CRC32C.checksum(bytes) == crc)
            #expect(CRC32C.checksum(bytes[...]) == crc)
            #expect(bytes.withUnsafeBytes { CRC32C.checksum($0) } == crc)
        }
        // A slice whose startIndex is not 0 must checksum only its own bytes.
        let padded: [UInt8] = [0xAA, 0xBB] + Array("123456789".utf8) + [0xCC]
        #expect(CRC32C.checksum(padded[2..<11]) == 0xE306_9283)
    }

    @Test func chainingEqualsOneShot() {
        let bytes = randomBytes(3 * 8192 + 777, seed: 1)
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 255, 768, 4097, 24_576, bytes.count] {
            let head = bytes[..<split], tail = bytes[split...]
            #expect(CRC32C.checksum(tail, continuing: CRC32C.checksum(head)) == whole)
            #expect(software(tail, software(head)) == whole)
            if CRC32C.isHardwareAccelerated {
                #expect(hardware(tail, hardware(head)) == whole)
                #expect(hardware(tail, software(head)) == whole)
                #expect(software(tail, hardware(head)) == whole)
            }
        }
    }

    /// Every length up to past the three-stream short threshold (768), at a
    /// random misalignment, against the bitwise definition.
    @Test func everySmallLengthMatchesReference() {
        let buffer = randomBytes(1100 + 8, seed: 2)
        var rng = SplitMix64(seed: 3)
        for length in 0...1100 {
            let offset = Int.random(in: 0..<8, using: &rng)
            let slice = buffer[offset..<(offset + length)]
            let expected = referenceCRC(slice)
            #expect(software(slice) == expected, "length \(length) offset \(offset)")
            if CRC32C.isHardwareAccelerated {
                #expect(hardware(slice) == expected, "length \(length) offset \(offset)")
            }
        }
    }

    /// Lengths around the long-block threshold (3 * 8192) and mixes of every path.
    @Test(.enabled(if: CRC32C.isHardwareAccelerated),
          arguments: [3 * 8192 - 1, 3 * 8192, 3 * 8192 + 17, 2 * 3 * 8192 + 3 * 256 + 13, 1_000_003])
    func hardwareMatchesSoftwareOnLargeInputs(length: Int) {
        let buffer = randomBytes(length + 8, seed: UInt64(length))
        for offset in 0..<8 {
            let slice = buffer[offset..<(offset + length)]
            #expect(hardware(slice) == software(slice), "offset \(offset)")
        }
    }
}
