/// Seeded mutations of state-file text (JSON lines): what a bad disk, a bad edit or an attacker
/// could leave in the state directory. The same seed gives the same mutation.
public enum StateFileMutator {
    /// Numbers that break a careless conversion: out of Int32, UInt32, Int64, negative, huge, tiny.
    public static let hostileNumbers = [
        "1e308", "-1e308", "3e9", "-1", "1e10", "4294967296", "9223372036854775808", "18446744073709551616", "2147483648", "-2147483649",
        "1.5", "-0", "0", "1e-320", "253402300800", "-62135596800", "1e19", "99999999999999999999999",
    ]
    static let hostileValues = ["null", "true", "\"x\"", "[]", "{}", "\"\"", "[1,2]", "{\"a\":1}", "\"\\u0000\"", "\"\\ud800\""]

    /// One to three mutations of `text`.
    public static func mutate(_ text: String, using rng: inout SeededGenerator) -> String {
        var bytes = Array(text.utf8)
        for _ in 0..<Int.random(in: 1...3, using: &rng) { mutate(&bytes, using: &rng) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func mutate(_ bytes: inout [UInt8], using rng: inout SeededGenerator) {
        guard !bytes.isEmpty else {
            bytes = Array("{\"t\":1e308}\n".utf8)
            return
        }
        switch Int.random(in: 0..<9, using: &rng) {
        case 0, 1, 2:  // a number replaced by a hostile one
            let numbers = numberRanges(bytes)
            guard let range = numbers.randomElement(using: &rng) else { fallthrough }
            bytes.replaceSubrange(range, with: Array(hostileNumbers.randomElement(using: &rng)!.utf8))
        case 3:  // a value's type changed
            let numbers = numberRanges(bytes)
            guard let range = numbers.randomElement(using: &rng) else { fallthrough }
            bytes.replaceSubrange(range, with: Array(hostileValues.randomElement(using: &rng)!.utf8))
        case 4:  // a byte flipped
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        case 5:  // cut short
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        case 6:  // a line doubled or dropped
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            var list = lines.map(Array.init)
            let i = Int.random(in: 0..<list.count, using: &rng)
            if Bool.random(using: &rng) { list.insert(list[i], at: i) } else { list.remove(at: i) }
            bytes = Array(list.joined(separator: [UInt8(ascii: "\n")]))
        case 7:  // garbage inserted: NUL, invalid UTF-8, structure characters
            let junk: [[UInt8]] = [[0], [0xFF, 0xFE], [0xC3], Array("\"".utf8), Array("{".utf8), Array("]".utf8), Array("\n".utf8), Array(",,".utf8)]
            bytes.insert(contentsOf: junk.randomElement(using: &rng)!, at: Int.random(in: 0...bytes.count, using: &rng))
        default:  // a whole hostile line
            let line = "{\"t\":\(hostileNumbers.randomElement(using: &rng)!),\"rss\":\(hostileNumbers.randomElement(using: &rng)!),\"pid\":\(hostileNumbers.randomElement(using: &rng)!),\"start\":\(hostileNumbers.randomElement(using: &rng)!)}\n"
            bytes.insert(contentsOf: Array(line.utf8), at: 0)
        }
    }

    /// Where numbers are: maximal runs of number characters after ':' or ',' or '['.
    static func numberRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var i = 0
        func isNumber(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: "+") }
        while i < bytes.count {
            let b = bytes[i]
            if (b == UInt8(ascii: ":") || b == UInt8(ascii: ",") || b == UInt8(ascii: "[")) && i + 1 < bytes.count && isNumber(bytes[i + 1]) {
                var end = i + 1
                while end < bytes.count && isNumber(bytes[end]) { end += 1 }
                ranges.append((i + 1)..<end)
                i = end
            } else {
                i += 1
            }
        }
        return ranges
    }
}
