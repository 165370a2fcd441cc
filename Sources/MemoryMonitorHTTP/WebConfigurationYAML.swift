/// The YAML an exporter-toolkit web configuration file is written in: block mappings and
/// sequences by indentation, flow mappings and sequences on one line (`{a: b}`, `[x, y]`), plain,
/// single- and double-quoted scalars, comments and a leading `---`. Anchors, aliases, tags and
/// block scalars (`|`, `>`) are refused with the line they are on: no web configuration needs them.
///
/// Written here rather than taken from a YAML library: the one available (Yams) imports Foundation,
/// which links ICU's 34 MB of data into the binary.
enum WebConfigurationYAML {
    indirect enum Node: Equatable {
        case null
        case scalar(String)
        case sequence([Node])
        case mapping([Pair])

        struct Pair: Equatable {
            var key: String
            var value: Node
        }

        var string: String? {
            if case .scalar(let s) = self { return s }
            return nil
        }

        var bool: Bool? {
            switch string?.lowercased() {
            case "true"?: true
            case "false"?: false
            default: nil
            }
        }
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    private struct Line {
        var number: Int
        var indent: Int
        var text: Substring
    }

    /// The document, or nil for an empty one.
    static func parse(_ text: String) throws(SyntaxError) -> Node? {
        var lines: [Line] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw
            if line.hasSuffix("\r") { line = line.dropLast() }
            let content = try stripComment(line, number: index + 1)
            let indent = content.prefix { $0 == " " }.count
            let rest = content.dropFirst(indent)
            if rest.isEmpty { continue }
            if rest.first == "\t" { throw SyntaxError(line: index + 1, message: "a tab in the indentation (YAML indents with spaces)") }
            if indent == 0 && (rest == "---" || rest == "...") { continue }
            if indent == 0 && rest.hasPrefix("%") { throw SyntaxError(line: index + 1, message: "directives are not supported") }
            lines.append(Line(number: index + 1, indent: indent, text: rest))
        }
        guard let first = lines.first else { return nil }
        var position = 0
        let node = try block(&lines, &position, indent: first.indent)
        if position < lines.count {
            throw SyntaxError(line: lines[position].number, message: "unexpected indentation")
        }
        return node
    }

    /// The line without a comment (`#` at its start or after a space, outside quotes) and trailing spaces.
    private static func stripComment(_ line: Substring, number: Int) throws(SyntaxError) -> Substring {
        var quote: Character?
        var previous: Character = " "
        var end = line.endIndex
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if let q = quote {
                if q == "\"" && c == "\\" {
                    index = line.index(after: index)
                    if index < line.endIndex { index = line.index(after: index) }
                    previous = "x"
                    continue
                }
                if c == q { quote = nil }
            } else if c == "#" && (previous == " " || previous == "\t") {
                end = index
                break
            } else if (c == "\"" || c == "'") && (previous == " " || previous == "[" || previous == "{" || previous == "," || previous == ":" || index == line.startIndex) {
                quote = c
            }
            previous = c
            index = line.index(after: index)
        }
        var result = line[..<end]
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }

    private static func isSequenceItem(_ text: Substring) -> Bool { text == "-" || text.hasPrefix("- ") }

    /// A block node made of the lines at `indent` from `position` on.
    private static func block(_ lines: inout [Line], _ position: inout Int, indent: Int) throws(SyntaxError) -> Node {
        if isSequenceItem(lines[position].text) {
            var items: [Node] = []
            while position < lines.count, lines[position].indent == indent, isSequenceItem(lines[position].text) {
                let line = lines[position]
                let item = line.text.dropFirst(1).drop { $0 == " " }
                if item.isEmpty {
                    position += 1
                    items.append(try nested(&lines, &position, parent: indent, allowSameIndentSequence: false))
                } else if splitKey(item) != nil {
                    // "- key: value": a mapping whose keys line up after the dash.
                    lines[position] = Line(number: line.number, indent: indent + (line.text.count - item.count), text: item)
                    items.append(try block(&lines, &position, indent: lines[position].indent))
                } else {
                    items.append(try inline(item, line: line.number))
                    position += 1
                }
            }
            return .sequence(items)
        }
        var pairs: [Node.Pair] = []
        while position < lines.count, lines[position].indent == indent, !isSequenceItem(lines[position].text) {
            let line = lines[position]
            guard let (keyText, valueText) = splitKey(line.text) else {
                throw SyntaxError(line: line.number, message: "expected \"key: value\"")
            }
            let key = try scalar(keyText, line: line.number)
            if pairs.contains(where: { $0.key == key }) { throw SyntaxError(line: line.number, message: "the key \"\(key)\" appears twice") }
            position += 1
            let value: Node
            if valueText.isEmpty {
                value = try nested(&lines, &position, parent: indent, allowSameIndentSequence: true)
            } else {
                value = try inline(valueText, line: line.number)
            }
            pairs.append(Node.Pair(key: key, value: value))
        }
        return .mapping(pairs)
    }

    /// The block under a key or dash with nothing after it: more indented lines, a sequence at the
    /// key's own indentation (YAML allows it), or null.
    private static func nested(_ lines: inout [Line], _ position: inout Int, parent: Int, allowSameIndentSequence: Bool) throws(SyntaxError) -> Node {
        guard position < lines.count else { return .null }
        let next = lines[position]
        if next.indent > parent || (allowSameIndentSequence && next.indent == parent && isSequenceItem(next.text)) {
            return try block(&lines, &position, indent: next.indent)
        }
        return .null
    }

    /// "key: value" or "key:" split at the first colon outside quotes and flow brackets that is
    /// followed by a space or the end.
    private static func splitKey(_ text: Substring) -> (Substring, Substring)? {
        var quote: Character?
        var depth = 0
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            let next = text.index(after: index)
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "[" || c == "{" {
                depth += 1
            } else if c == "]" || c == "}" {
                depth -= 1
            } else if c == ":" && depth == 0 && (next == text.endIndex || text[next] == " ") {
                let value = text[next...].drop { $0 == " " }
                return (text[..<index], value)
            }
            index = next
        }
        return nil
    }

    /// A value on the key's line: a flow collection or a scalar.
    private static func inline(_ text: Substring, line: Int) throws(SyntaxError) -> Node {
        switch text.first {
        case "[", "{":
            var flow = Flow(text: text, index: text.startIndex, line: line)
            let node = try flow.node()
            flow.skipSpaces()
            if flow.index != text.endIndex { throw SyntaxError(line: line, message: "unexpected text after a flow collection") }
            return node
        default:
            if text == "~" || text == "null" { return .null }
            return .scalar(try scalar(text, line: line))
        }
    }

    /// A plain or quoted scalar, whole.
    static func scalar(_ text: Substring, line: Int) throws(SyntaxError) -> String {
        guard let first = text.first else { return "" }
        switch first {
        case "\"", "'":
            var index = text.startIndex
            let value = try quoted(text, &index, line: line)
            if index != text.endIndex { throw SyntaxError(line: line, message: "unexpected text after a quoted string") }
            return value
        case "|", ">":
            throw SyntaxError(line: line, message: "block scalars (| and >) are not supported: write the value on one line")
        case "&", "*", "!":
            throw SyntaxError(line: line, message: "anchors, aliases and tags are not supported")
        case "@", "`":
            throw SyntaxError(line: line, message: "a plain value cannot start with \(first): quote it")
        default:
            return String(text)
        }
    }

    /// A quoted string starting at `index`; leaves `index` after the closing quote.
    private static func quoted(_ text: Substring, _ index: inout Substring.Index, line: Int) throws(SyntaxError) -> String {
        let quote = text[index]
        index = text.index(after: index)
        var out = ""
        while index < text.endIndex {
            let c = text[index]
            index = text.index(after: index)
            if quote == "'" && c == "'" {
                if index < text.endIndex && text[index] == "'" {
                    out.append("'")
                    index = text.index(after: index)
                    continue
                }
                return out
            }
            if quote == "\"" && c == "\"" { return out }
            if quote == "\"" && c == "\\" {
                guard index < text.endIndex else { break }
                let e = text[index]
                index = text.index(after: index)
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                case "/": out.append("/")
                case "0": out.append("\0")
                default: throw SyntaxError(line: line, message: "the escape \\\(e) is not supported")
                }
                continue
            }
            out.append(c)
        }
        throw SyntaxError(line: line, message: "a quoted string is not closed on its line")
    }

    /// `{…}` and `[…]` on one line.
    private struct Flow {
        let text: Substring
        var index: Substring.Index
        let line: Int

        mutating func skipSpaces() {
            while index < text.endIndex, text[index] == " " { index = text.index(after: index) }
        }

        /// Skips spaces, then takes `c` if it is next.
        mutating func consume(_ c: Character) -> Bool {
            skipSpaces()
            guard index < text.endIndex, text[index] == c else { return false }
            index = text.index(after: index)
            return true
        }

        /// After an element: true at `,` (another follows), false at `closing`, an error otherwise.
        mutating func more(closing: Character, kind: String) throws(SyntaxError) -> Bool {
            if consume(",") { return true }
            if consume(closing) { return false }
            let message = index < text.endIndex ? "expected , or \(closing) in a flow \(kind)" : "a flow \(kind) is not closed on its line"
            throw SyntaxError(line: line, message: message)
        }

        mutating func node() throws(SyntaxError) -> Node {
            skipSpaces()
            guard index < text.endIndex else { throw SyntaxError(line: line, message: "a flow collection is not closed on its line") }
            switch text[index] {
            case "[":
                index = text.index(after: index)
                var items: [Node] = []
                if consume("]") { return .sequence(items) }
                repeat {
                    items.append(try node())
                } while try more(closing: "]", kind: "sequence")
                return .sequence(items)
            case "{":
                index = text.index(after: index)
                var pairs: [Node.Pair] = []
                if consume("}") { return .mapping(pairs) }
                repeat {
                    skipSpaces()
                    let key = try plainOrQuoted(stopAtColon: true)
                    guard consume(":") else { throw SyntaxError(line: line, message: "expected : after \"\(key)\"") }
                    if pairs.contains(where: { $0.key == key }) { throw SyntaxError(line: line, message: "the key \"\(key)\" appears twice") }
                    pairs.append(Node.Pair(key: key, value: try node()))
                } while try more(closing: "}", kind: "mapping")
                return .mapping(pairs)
            default:
                let value = try plainOrQuoted(stopAtColon: false)
                return value == "~" || value == "null" ? .null : .scalar(value)
            }
        }

        /// A scalar inside a flow collection: quoted, or plain up to `,`, `]`, `}` (and `: ` for a key).
        mutating func plainOrQuoted(stopAtColon: Bool) throws(SyntaxError) -> String {
            guard index < text.endIndex else { throw SyntaxError(line: line, message: "a flow collection is not closed on its line") }
            if text[index] == "\"" || text[index] == "'" { return try WebConfigurationYAML.quoted(text, &index, line: line) }
            let start = index
            while index < text.endIndex {
                let c = text[index]
                if c == "," || c == "]" || c == "}" { break }
                if stopAtColon && c == ":" {
                    let next = text.index(after: index)
                    if next == text.endIndex || text[next] == " " { break }
                }
                index = text.index(after: index)
            }
            var value = text[start..<index]
            while let last = value.last, last == " " { value = value.dropLast() }
            return try WebConfigurationYAML.scalar(value, line: line)
        }
    }
}
