import Testing
@testable import MemoryMonitorHTTP
import TestSupport

@Suite("Web configuration YAML subset", .offCooperativePool)
struct WebConfigurationYAMLTests {
    typealias Node = WebConfigurationYAML.Node

    @Test func blockAndFlowCollectionsQuotesAndComments() throws {
        let node = try WebConfigurationYAML.parse(
            """
            ---
            # a comment
            a: plain value  # trailing comment
            b: "double \\"quoted\\" # not a comment"
            c: 'single ''quoted'''
            d:
              - one
              - "two"
              - k: v
                k2: v2
            e:
            - at the key's indentation
            f: {x: 1, y: [p, "q, r"], z: {}}
            g: []
            h:
            i: $2y$10$QOauhQNbBCuQDKes6eFzPe#hash
            """)
        let expected: Node = .mapping([
            .init(key: "a", value: .scalar("plain value")),
            .init(key: "b", value: .scalar("double \"quoted\" # not a comment")),
            .init(key: "c", value: .scalar("single 'quoted'")),
            .init(key: "d", value: .sequence([.scalar("one"), .scalar("two"), .mapping([.init(key: "k", value: .scalar("v")), .init(key: "k2", value: .scalar("v2"))])])),
            .init(key: "e", value: .sequence([.scalar("at the key's indentation")])),
            .init(key: "f", value: .mapping([
                .init(key: "x", value: .scalar("1")), .init(key: "y", value: .sequence([.scalar("p"), .scalar("q, r")])), .init(key: "z", value: .mapping([])),
            ])),
            .init(key: "g", value: .sequence([])),
            .init(key: "h", value: .null),
            .init(key: "i", value: .scalar("$2y$10$QOauhQNbBCuQDKes6eFzPe#hash")),
        ])
        #expect(node == expected)
        #expect(try WebConfigurationYAML.parse("") == nil)
        #expect(try WebConfigurationYAML.parse("# only a comment\n\n") == nil)
    }

    @Test(arguments: [
        ("a: &anchor x", 1, "anchors"),
        ("a: *alias", 1, "anchors"),
        ("a: !tag x", 1, "tags"),
        ("a: |\n  text", 1, "block scalars"),
        ("a: 1\na: 2", 2, "appears twice"),
        ("a: \"open", 1, "not closed"),
        ("a: [x, y", 1, "not closed"),
        ("a:\n\t- x", 2, "tab"),
        ("just text", 1, "key: value"),
        ("a:\n    b: 1\n  c: 2", 3, "indentation"),
    ])
    func errorsNameTheLine(_ text: String, _ line: Int, _ fragment: String) {
        do {
            _ = try WebConfigurationYAML.parse(text)
            Issue.record("no error for \(text)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.description.contains(fragment), "\(error)")
        }
    }
}
