import Testing
@testable import SteleBroker

/// `TopicRegex` reads RE2's syntax (Kafka's coordinator uses RE2/J for KIP-848 subscriptions) and
/// matches in linear time. Checked against Swift's backtracking `Regex` on random patterns and
/// names small enough for it, on the patterns Kafka users write, and on what it refuses.
struct TopicRegexTests {
    @Test(arguments: [
        ("orders\\..*", "orders.eu", true), ("orders\\..*", "ordersXeu", false),
        ("topic-[0-9]+", "topic-12", true), ("topic-[0-9]+", "topic-", false),
        (".*-events", "carts-events", true), ("^stele\\.(a|b)$", "stele.b", true), ("^stele\\.(a|b)$", "stele.c", false),
        ("[^.]+", "no-dots_here", true), ("[^.]+", "a.b", false), ("\\w+", "snake_case9", true), ("\\w+", "kebab-case", false),
        ("[\\w.-]{1,249}", "a.b-c_d", true), ("x{2,3}", "xxxx", false), ("x{2,}", "xxxxxxx", true), ("(?:ab)*", "ababab", true),
        ("(?P<region>eu|us)-orders", "us-orders", true), ("a{,2}", "a{,2}", true), ("a{x}", "a{x}", true), ("", "", true),
        ("[]a]", "]", true), ("[a-]", "-", true), ("[\\D]", "x", true), ("[\\D]", "7", false), ("\\Aab\\z", "ab", true),
        ("a|", "", true), ("(a*)*b", "aaab", true), ("café", "café", true), ("c.fé", "cxfé", true),
    ] as [(String, String, Bool)])
    func patternsKafkaUsersWrite(pattern: String, name: String, matches: Bool) throws {
        #expect(try TopicRegex(pattern).wholeMatch(name) == matches, "\(pattern) on \(name)")
    }

    @Test func agreesWithABacktrackingEngineOnRandomPatterns() throws {
        var random = SplitMix(seed: 0x5EED)
        var compared = 0
        for _ in 0..<6_000 {
            // Short ones: the backtracking engine takes exponential time on nested repetitions.
            let pattern = Self.randomPattern(&random, depth: 0)
            guard pattern.utf8.count <= 24, let reference = try? Regex(pattern) else { continue }
            let ours = try TopicRegex(pattern)
            for _ in 0..<8 {
                let length = Int(random.next() % 7)
                let name = String((0..<length).map { _ in ["a", "b", ".", "-"][Int(random.next() % 4)] as Character })
                let theirs = name.wholeMatch(of: reference) != nil
                #expect(ours.wholeMatch(name) == theirs, "\(pattern) on \(name)")
                compared += 1
            }
        }
        #expect(compared > 10_000, "\(compared)")
    }

    @Test func aPatternThatMakesBacktrackingExponentialIsMatchedAtOnce() throws {
        // Swift's Regex needs about 0.1 s for 26 characters here, and 1.6 times that for each more.
        let name = String(repeating: "a", count: 249)
        for pattern in ["(a|aa)+c", "(a+)+$c", "(.*)*c", "(a|a?)+c", "(\\w|\\w\\w)*c"] {
            #expect(try TopicRegex(pattern).wholeMatch(name) == false, "\(pattern)")
        }
        #expect(try TopicRegex("(a|aa)+").wholeMatch(name))
    }

    @Test(arguments: [
        "(?i)orders", "(?s).", "\\bfoo", "\\pL+", "\\1", "a**", "a+*", "*a", "(abc", "abc)", "[z-a]", "[abc", "x{1001}", "x{3,2}",
        "(a{1000}){1000}", "((((){1000}){1000}){1000}){1000}", "(?:(?:a{0}){1000}){1000}", "[[:alpha:]]", "a\\", "^*", "\\Qa.b\\E",
    ])
    func refusedWithAReason(pattern: String) {
        #expect(throws: TopicRegex.SyntaxError.self) { try TopicRegex(pattern) }
    }

    /// A class of thousands of characters is one binary search per character of a name.
    @Test func aLongClassIsMatched() throws {
        let regex = try TopicRegex("(?:[" + String(repeating: "b", count: 3_000) + "a-z0-9._-]*){10}")
        #expect(regex.wholeMatch("orders.eu-1") && !regex.wholeMatch("Orders"))
        #expect(try TopicRegex("[zyxa-cq-sb]+").wholeMatch("abcqrsxyz") && !(try TopicRegex("[^zyxa-cq-sb]").wholeMatch("r")))
    }

    @Test func aPatternLongerThanTheLimitIsRefused() {
        #expect(throws: TopicRegex.SyntaxError.self) { try TopicRegex(String(repeating: "a", count: TopicRegex.maximumLength + 1)) }
        let nested = TopicRegex.maximumNesting
        #expect(throws: Never.self) { try TopicRegex(String(repeating: "(", count: nested) + "a" + String(repeating: ")", count: nested)) }
        #expect(throws: TopicRegex.SyntaxError.self) {
            try TopicRegex(String(repeating: "(", count: nested + 1) + "a" + String(repeating: ")", count: nested + 1))
        }
    }

    /// Patterns over a small alphabet, with every construct the two engines share.
    static func randomPattern(_ random: inout SplitMix, depth: Int) -> String {
        let pieces = 1 + Int(random.next() % 3)
        var text = ""
        for _ in 0..<pieces {
            var atom: String
            switch random.next() % (depth < 3 ? 9 : 6) {
            case 0: atom = "a"
            case 1: atom = "b"
            case 2: atom = "."
            case 3: atom = "\\."
            case 4: atom = ["[ab]", "[^a]", "[a-b.]", "[-a]", "\\w"][Int(random.next() % 5)]
            case 5: atom = "-"
            case 6: atom = "(" + randomPattern(&random, depth: depth + 1) + ")"
            case 7: atom = "(?:" + randomPattern(&random, depth: depth + 1) + "|" + randomPattern(&random, depth: depth + 1) + ")"
            default: atom = "(" + randomPattern(&random, depth: depth + 1) + "|)"
            }
            switch random.next() % 8 {
            case 0: atom += "*"
            case 1: atom += "+"
            case 2: atom += "?"
            case 3: atom += "{\(random.next() % 3)}"
            case 4: let low = random.next() % 3; atom += "{\(low),\(low + random.next() % 3)}"
            case 5: atom += "*?"
            default: break
            }
            text += atom
        }
        return random.next() % 6 == 0 ? text + "|" + randomPattern(&random, depth: depth + 1) : text
    }
}

/// A small seeded generator, so a failing pattern comes back on the next run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
