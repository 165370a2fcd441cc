import Testing
@testable import MemoryMonitor
import TestSupport

@Suite("JSON", .offCooperativePool)
struct JSONTests {
    @Test func parsesNestedDocumentKeepingKeyOrder() throws {
        let value = try JSONParser.parse(#"{"b": [1, 2.5, -3e2, true, null], "a": {"s": "x\"\u00e9\n"}}"#)
        guard case .object(let o) = value else { Issue.record("not an object"); return }
        #expect(o.keys == ["b", "a"])
        #expect(o["b"] == [1, 2.5, -300, true, .null])
        #expect(o["a"] == ["s": "x\"é\n"])
    }

    @Test(arguments: [
        ("{\n  \"a\": 1,\n  \"b\": 2,\n}", 4, 1, "expected a string key"),
        ("{\"a\": tru}", 1, 7, "expected 'true'"),
        ("[1 2]", 1, 4, "expected ',' or ']' in array"),
        ("{\"a\": 1} x", 1, 10, "unexpected text after the JSON value"),
        ("{\"a\": 01}", 1, 8, "expected ',' or '}' in object"),
        ("{\"a\":1,\"a\":2}", 1, 11, "duplicate key \"a\""),
        ("", 1, 1, "unexpected end of input, expected a value"),
    ])
    func reportsLineAndColumn(_ text: String, _ line: Int, _ column: Int, _ message: String) {
        #expect(throws: JSONParseError(message: message, line: line, column: column)) { try JSONParser.parse(text) }
    }

    @Test func writesCompactEscapedJSONThatParsesBack() throws {
        let value: JSONValue = ["s": "a\"b\\c\n\u{01}", "n": 1.5, "i": 3, "list": [true, .null], "inf": .number(.infinity)]
        let text = value.serialized
        #expect(text == #"{"s":"a\"b\\c\n\u0001","n":1.5,"i":3,"list":[true,null],"inf":null}"#)
        let back = try JSONParser.parse(text)
        guard case .object(let o) = back else { Issue.record("not an object"); return }
        #expect(o["s"] == "a\"b\\c\n\u{01}")
    }

    @Test(arguments: [(0.0, "1970-01-01T00:00:00Z"), (1_705_314_600, "2024-01-15T10:30:00Z"), (951_782_400.9, "2000-02-29T00:00:00Z")])
    func rfc3339(_ epoch: Double, _ expected: String) {
        #expect(WallClock.rfc3339(epoch) == expected)
    }
}
