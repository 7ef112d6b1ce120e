/// A subscription's topic pattern (KIP-848's `SubscribedTopicRegex`), read in RE2's syntax as
/// Kafka's coordinator reads it (RE2/J), and matched with RE2's promise: time linear in the
/// pattern's size times the name's length, whatever the pattern.
///
/// A client chooses the pattern, and the coordinator matches it against every topic name at each
/// assignment. A backtracking engine (Swift's `Regex`, Java's `Pattern`) takes exponential time
/// on `(a|aa)+` against a name of forty `a`s and a `c`, which would stop the group coordinator for
/// every group; this one runs the pattern as an automaton over all its states at once (a Pike VM
/// without captures) and never backtracks.
///
/// The subset of RE2 read: literals and escaped punctuation, `.`, classes (`[a-z._]`, `[^…]`,
/// `\d \w \s` and their negations), groups (`(…)`, `(?:…)`, `(?P<name>…)`), `|`, the quantifiers
/// `* + ? {n} {n,} {n,m}` (lazy forms too: a whole-name match does not care), `^ $ \A \z`.
/// Anything else RE2 has (flags, Unicode classes, word boundaries) is refused with the reason, as
/// is a pattern longer than ``maximumLength`` or one that compiles to more than
/// ``maximumProgramSize`` steps (`(a{1000}){1000}`).
package struct TopicRegex: Sendable {
    package struct SyntaxError: Error, CustomStringConvertible, Equatable {
        package let description: String
    }

    /// Kafka's topic names are at most 249 characters; a pattern may say more, not unboundedly more.
    package static let maximumLength = 4096
    /// Groups within groups (RE2 allows 1,000; a topic pattern needs a few).
    package static let maximumNesting = 100
    /// RE2's own bound on `{n,m}`.
    package static let maximumRepeat = 1000
    /// Steps of the compiled automaton: the work per character of a name is at most this. The
    /// coordinator matches every member's pattern against every topic name, so it stays small.
    package static let maximumProgramSize = 5_000

    private let program: [Instruction]

    package init(_ pattern: String) throws(SyntaxError) {
        let scalars = Array(pattern.unicodeScalars)
        guard scalars.count <= Self.maximumLength else {
            throw SyntaxError(description: "longer than \(Self.maximumLength) characters")
        }
        var parser = Parser(scalars: scalars)
        let node = try parser.parseAll()
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        guard compiler.program.count <= Self.maximumProgramSize else {
            throw SyntaxError(description: "too large once its repetitions are counted out")
        }
        program = compiler.program
    }

    /// Whether the whole of `name` matches (Kafka matches a subscription's pattern against whole
    /// topic names).
    package func wholeMatch(_ name: String) -> Bool {
        let input = Array(name.unicodeScalars)
        var current = ThreadSet(capacity: program.count)
        var next = ThreadSet(capacity: program.count)
        var stack: [Int] = []
        follow(from: 0, at: 0, of: input.count, into: &current, stack: &stack)
        for (index, scalar) in input.enumerated() {
            if current.isEmpty { return false }
            next.removeAll()
            for pc in current.members {
                if case let .scalars(set) = program[pc], set.contains(scalar) {
                    follow(from: pc + 1, at: index + 1, of: input.count, into: &next, stack: &stack)
                }
            }
            swap(&current, &next)
        }
        return current.members.contains { if case .match = program[$0] { true } else { false } }
    }

    /// Adds `start` and every step reachable from it without reading a character: the threads
    /// that wait for the next character, or the match.
    private func follow(from start: Int, at position: Int, of length: Int, into threads: inout ThreadSet, stack: inout [Int]) {
        stack.append(start)
        while let pc = stack.popLast() {
            guard threads.insert(pc) else { continue }
            switch program[pc] {
            case .scalars, .match: break
            case let .jump(target): stack.append(target)
            case let .split(first, second): stack.append(second); stack.append(first)
            case .assertStart: if position == 0 { stack.append(pc + 1) }
            case .assertEnd: if position == length { stack.append(pc + 1) }
            }
        }
    }
}

// MARK: - The automaton

private enum Instruction: Sendable {
    case scalars(ScalarSet)
    case split(Int, Int)
    case jump(Int)
    case assertStart
    case assertEnd
    case match
}

/// Characters as sorted, closed ranges of scalar values, or all but those.
private struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false

    static func single(_ scalar: Unicode.Scalar) -> ScalarSet { ScalarSet(ranges: [scalar.value...scalar.value]) }
    static let digit = ScalarSet(ranges: [48...57])
    static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
    static let space = ScalarSet(ranges: [9...10, 12...13, 32...32])
    /// `.`: anything but a newline, as in RE2 without the `s` flag.
    static let dot = ScalarSet(ranges: [10...10], negated: true)

    /// The ranges sorted and merged, so `contains` is a binary search (a class of 4,000 single
    /// characters would otherwise be 4,000 comparisons per character of every name).
    func normalized() -> ScalarSet {
        var merged: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return ScalarSet(ranges: merged, negated: negated)
    }

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < value { low = middle + 1 } else { high = middle }
        }
        return (low < ranges.count && ranges[low].contains(value)) != negated
    }

    var inverted: ScalarSet { ScalarSet(ranges: ranges, negated: !negated) }
}

/// The threads of one step: a set of program counters with insertion order and O(1) insert
/// (a sparse set), cleared without touching its capacity.
private struct ThreadSet {
    private var dense: [Int]
    private var sparse: [Int]
    private(set) var count = 0

    init(capacity: Int) {
        dense = Array(repeating: 0, count: capacity)
        sparse = Array(repeating: 0, count: capacity)
    }

    var isEmpty: Bool { count == 0 }
    var members: ArraySlice<Int> { dense[0..<count] }

    mutating func insert(_ pc: Int) -> Bool {
        let slot = sparse[pc]
        if slot < count && dense[slot] == pc { return false }
        sparse[pc] = count
        dense[count] = pc
        count += 1
        return true
    }

    mutating func removeAll() { count = 0 }
}

// MARK: - Parsing

private indirect enum Node {
    case empty
    case scalars(ScalarSet)
    case concatenation([Node])
    case alternation([Node])
    case repetition(Node, minimum: Int, maximum: Int?)
    case start
    case end
}

private struct Parser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var depth = 0

    init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func fail(_ reason: String) -> TopicRegex.SyntaxError {
        TopicRegex.SyntaxError(description: "\(reason) at offset \(index)")
    }

    mutating func parseAll() throws(TopicRegex.SyntaxError) -> Node {
        let node = try parseAlternation()
        if index < scalars.count { throw fail("unmatched )") }
        return node
    }

    mutating func parseAlternation() throws(TopicRegex.SyntaxError) -> Node {
        var branches = [try parseConcatenation()]
        while peek == "|" {
            index += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseConcatenation() throws(TopicRegex.SyntaxError) -> Node {
        var items: [Node] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            var atom = try parseAtom()
            var quantified = false
            while let (minimum, maximum) = try parseQuantifier() {
                // RE2 refuses `a**`: a second quantifier says nothing the first did not.
                if quantified { throw fail("bad repetition operator") }
                if case .start = atom { throw fail("missing argument to repetition operator") }
                if case .end = atom { throw fail("missing argument to repetition operator") }
                atom = .repetition(atom, minimum: minimum, maximum: maximum)
                quantified = true
                if peek == "?" { index += 1 }  // lazy: the same set of whole matches
            }
            items.append(atom)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concatenation(items)
    }

    /// `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`; a `{` that begins none of these is a literal, as in RE2.
    mutating func parseQuantifier() throws(TopicRegex.SyntaxError) -> (Int, Int?)? {
        switch peek {
        case "*": index += 1; return (0, nil)
        case "+": index += 1; return (1, nil)
        case "?": index += 1; return (0, 1)
        case "{":
            var cursor = index + 1
            func number() -> Int? {
                let first = cursor
                var value = 0
                while cursor < scalars.count, let digit = Int(String(scalars[cursor])), scalars[cursor].isASCII {
                    value = min(value * 10 + digit, TopicRegex.maximumRepeat + 1)
                    cursor += 1
                }
                return cursor > first ? value : nil
            }
            guard let minimum = number() else { return nil }
            var maximum: Int? = minimum
            if cursor < scalars.count, scalars[cursor] == "," {
                cursor += 1
                maximum = number()
            }
            guard cursor < scalars.count, scalars[cursor] == "}" else { return nil }
            index = cursor + 1
            guard minimum <= TopicRegex.maximumRepeat, (maximum ?? 0) <= TopicRegex.maximumRepeat else {
                throw fail("bad repetition operator: more than \(TopicRegex.maximumRepeat)")
            }
            if let maximum, maximum < minimum { throw fail("bad repetition operator: {\(minimum),\(maximum)}") }
            return (minimum, maximum)
        default:
            return nil
        }
    }

    mutating func parseAtom() throws(TopicRegex.SyntaxError) -> Node {
        let scalar = scalars[index]
        index += 1
        switch scalar {
        case "(":
            if peek == "?" {
                index += 1
                if peek == ":" {
                    index += 1
                } else if peek == "P" || peek == "<" {
                    if peek == "P" { index += 1 }
                    guard peek == "<" else { throw fail("flags are not supported in topic patterns") }
                    index += 1
                    let nameStart = index
                    while let c = peek, c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) { index += 1 }
                    guard index > nameStart, peek == ">" else { throw fail("invalid named capture group") }
                    index += 1
                } else {
                    throw fail("flags are not supported in topic patterns")
                }
            }
            depth += 1
            // Parsing and compiling recurse once per level: bounded well inside a thread's stack.
            guard depth <= TopicRegex.maximumNesting else { throw fail("groups nested deeper than \(TopicRegex.maximumNesting)") }
            let inner = try parseAlternation()
            depth -= 1
            guard peek == ")" else { throw fail("missing )") }
            index += 1
            return inner
        case "[": return .scalars(try parseClass())
        case ".": return .scalars(.dot)
        case "^": return .start
        case "$": return .end
        case "*", "+", "?": throw fail("missing argument to repetition operator")
        case "\\": return try parseEscape(inClass: false)
        default: return .scalars(.single(scalar))
        }
    }

    mutating func parseEscape(inClass: Bool) throws(TopicRegex.SyntaxError) -> Node {
        guard let scalar = peek else { throw fail("trailing \\") }
        index += 1
        switch scalar {
        case "d": return .scalars(.digit)
        case "D": return .scalars(ScalarSet.digit.inverted)
        case "w": return .scalars(.word)
        case "W": return .scalars(ScalarSet.word.inverted)
        case "s": return .scalars(.space)
        case "S": return .scalars(ScalarSet.space.inverted)
        case "t": return .scalars(.single("\t"))
        case "n": return .scalars(.single("\n"))
        case "r": return .scalars(.single("\r"))
        case "f": return .scalars(.single("\u{0C}"))
        case "v": return .scalars(.single("\u{0B}"))
        case "A" where !inClass: return .start
        case "z" where !inClass: return .end
        default:
            // Punctuation stands for itself once escaped; an escaped letter or digit means
            // something in RE2 (`\b`, `\pL`, `\1`) that topic patterns do not read.
            guard scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                throw fail("\\\(scalar) is not supported in topic patterns")
            }
            return .scalars(.single(scalar))
        }
    }

    /// After `[`: ranges, single characters and escapes up to the closing `]`. A `]` first, or a
    /// `-` first or last, is a literal.
    mutating func parseClass() throws(TopicRegex.SyntaxError) -> ScalarSet {
        var negated = false
        if peek == "^" { negated = true; index += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        var subtracted: [ScalarSet] = []
        var first = true
        while true {
            guard let scalar = peek else { throw fail("missing ]") }
            if scalar == "]" && !first { index += 1; break }
            first = false
            if scalar == "[" && index + 1 < scalars.count && scalars[index + 1] == ":" {
                throw fail("POSIX classes ([:alpha:]) are not supported in topic patterns")
            }
            let low: Unicode.Scalar
            if scalar == "\\" {
                index += 1
                guard case let .scalars(set) = try parseEscape(inClass: true) else { throw fail("bad escape in class") }
                if set.negated { subtracted.append(set); continue }
                if set.ranges.count > 1 || set.ranges[0].count > 1 { ranges += set.ranges; continue }
                low = Unicode.Scalar(set.ranges[0].lowerBound)!
            } else {
                index += 1
                low = scalar
            }
            if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                var high = scalars[index]
                index += 1
                if high == "\\" {
                    guard case let .scalars(set) = try parseEscape(inClass: true), !set.negated,
                          set.ranges.count == 1, set.ranges[0].count == 1 else { throw fail("bad character class range") }
                    high = Unicode.Scalar(set.ranges[0].lowerBound)!
                }
                guard low.value <= high.value else { throw fail("bad character class range \(low)-\(high)") }
                ranges.append(low.value...high.value)
            } else {
                ranges.append(low.value...low.value)
            }
        }
        // A negated escape inside a class (`[\D_]`) is everything outside its own set: written
        // here as the ranges between them.
        for set in subtracted { ranges += Self.complement(of: set.ranges) }
        return ScalarSet(ranges: ranges, negated: negated)
    }

    static func complement(of ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = max(next, range.upperBound + 1)
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }
}

// MARK: - Compiling

private struct Compiler {
    var program: [Instruction] = []
    /// Nodes compiled, counted apart from the steps: a repetition of something that compiles to
    /// nothing (`((){1000}){1000}`) adds no step, yet would be compiled a million times.
    var visits = 0

    mutating func emit(_ node: Node) throws(TopicRegex.SyntaxError) {
        visits += 1
        // Checked as it grows, so `(a{1000}){1000}` is refused before it is a million steps.
        guard program.count <= TopicRegex.maximumProgramSize, visits <= 4 * TopicRegex.maximumProgramSize else {
            throw TopicRegex.SyntaxError(description: "too large once its repetitions are counted out")
        }
        switch node {
        case .empty: break
        case let .scalars(set): program.append(.scalars(set.normalized()))
        case .start: program.append(.assertStart)
        case .end: program.append(.assertEnd)
        case let .concatenation(items): for item in items { try emit(item) }
        case let .alternation(branches):
            var jumps: [Int] = []
            for (offset, branch) in branches.enumerated() {
                if offset < branches.count - 1 {
                    let split = program.count
                    program.append(.split(0, 0))
                    try emit(branch)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case let .repetition(inner, minimum, maximum):
            for _ in 0..<minimum { try emit(inner) }
            if let maximum {
                // Each optional copy may be skipped to the end: x? x? … nested as (x(x(x)?)?)?.
                var skips: [Int] = []
                for _ in minimum..<maximum {
                    skips.append(program.count)
                    program.append(.split(0, 0))
                    try emit(inner)
                }
                for skip in skips { program[skip] = .split(skip + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.split(0, 0))
                try emit(inner)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
