import PostgresNIO  // ByteBuffer, as postgres-nio hands it over

/// PostgreSQL's binary `numeric` written as decimal text, whatever its size: a count of base
/// 10,000 digits, the weight of the first, the sign (or NaN, ±Infinity), the display scale,
/// then the digits. Trailing zeros of the fraction are left out (`12.50` is `12.5`), as
/// `Decimal`'s description wrote them before.
enum NumericText {
    static func decode(_ buffer: inout ByteBuffer) -> String? {
        guard let count = buffer.readInteger(as: Int16.self), let weight = buffer.readInteger(as: Int16.self),
              let sign = buffer.readInteger(as: UInt16.self), let scale = buffer.readInteger(as: Int16.self),
              count >= 0, scale >= 0, buffer.readableBytes == Int(count) * 2 else { return nil }
        var digits: [Int] = []
        digits.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let digit = buffer.readInteger(as: Int16.self), (0..<10_000).contains(digit) else { return nil }
            digits.append(Int(digit))
        }
        switch sign {
        case 0x0000, 0x4000: break
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: return nil
        }
        func digit(_ index: Int) -> Int { index >= 0 && index < digits.count ? digits[index] : 0 }
        func fourFigures(_ value: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: 4 - text.count) + text
        }
        var text = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(digit(0))
            for index in stride(from: 1, through: Int(weight), by: 1) { text += fourFigures(digit(index)) }
        }
        var fraction = ""
        for group in 0..<((Int(scale) + 3) / 4) { fraction += fourFigures(digit(Int(weight) + 1 + group)) }
        fraction = String(fraction.prefix(Int(scale)))
        while fraction.last == "0" { fraction.removeLast() }
        if !fraction.isEmpty { text += "." + fraction }
        if text == "-0" { text = "0" }
        return text
    }
}
