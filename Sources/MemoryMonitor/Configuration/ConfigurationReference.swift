/// The documentation generated from `ConfigurationSchema`: the key tables, the secrets-from-files
/// table, the environment table and the reload lists. Each goes between two markers in a docs
/// file; a test fails when a file differs from what this renders (regenerate with
/// `scripts/generate-config-docs.sh`).
package enum ConfigurationReference {
    /// The generated blocks, by marker name.
    package static func blocks(_ keys: [ConfigurationKey] = ConfigurationSchema.keys) -> [String: String] {
        var blocks: [String: String] = [:]
        for table in ConfigurationKey.Table.allCases { blocks[table.rawValue] = self.table(keys.filter { $0.table == table }) }
        blocks["secret-files"] = secretFiles(keys)
        blocks["environment"] = environment(keys)
        blocks["reload"] = reload(keys)
        return blocks
    }

    /// `text` with every generated block replaced by what the schema renders now. A block is the
    /// lines between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->`.
    package static func spliced(_ text: String, blocks: [String: String] = blocks()) -> String {
        var out: [Substring] = []
        var skipping: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let name = skipping {
                guard line == "<!-- end generated: \(name) -->" else { continue }
                skipping = nil
                out.append(line)
                continue
            }
            out.append(line)
            if line.hasPrefix("<!-- generated: "), line.hasSuffix(" -->") {
                let name = String(line.dropFirst("<!-- generated: ".count).dropLast(" -->".count))
                if let block = blocks[name] {
                    out.append(Substring(block))
                    skipping = name
                }
            }
        }
        return out.joined(separator: "\n")
    }

    /// The names of the blocks a text holds.
    package static func blockNames(in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("<!-- generated: "), line.hasSuffix(" -->") else { return nil }
            return String(line.dropFirst("<!-- generated: ".count).dropLast(" -->".count))
        }
    }

    static func table(_ keys: [ConfigurationKey]) -> String {
        var lines = ["| key | default | allowed | on SIGHUP | meaning |", "|---|---|---|---|---|"]
        var index = 0
        while index < keys.count {
            let first = keys[index]
            var group = [first]
            if let row = first.row {
                while index + group.count < keys.count, keys[index + group.count].row == row { group.append(keys[index + group.count]) }
            }
            index += group.count
            let label = first.row.map { $0.replacing("<level>", with: "{warning,critical,emergency}") } ?? first.path
            let defaults = group.map(\.defaultText)
            let shownDefault = Set(defaults).count == 1 ? defaults[0] : defaults.joined(separator: " / ")
            var meaning = first.doc
            let also = [first.environment, first.flag].compactMap { $0 }.map { "`\($0)`" }
            if !also.isEmpty { meaning += " Also " + also.joined(separator: " and ") + "." }
            if first.fileVariant { meaning += " Or `\(first.parentAndName.name)_file`." }
            let policy = first.reload == .live ? "applied" : "restart"
            lines.append("| `\(label)`\(first.isNew ? " *new*" : "") | \(cell(shownDefault)) | \(cell(first.allowed)) | \(policy) | \(cell(meaning)) |")
        }
        return lines.joined(separator: "\n")
    }

    static func cell(_ text: String) -> String { text.replacing("|", with: "\\|") }

    static func secretFiles(_ keys: [ConfigurationKey]) -> String {
        var lines = ["| key | instead of |", "|---|---|"]
        for key in keys where key.fileVariant { lines.append("| `\(key.path)_file` | `\(key.path)` |") }
        lines.append("| `alerting.webhook_header_files.<Header>` | `alerting.webhook_headers.<Header>` |")
        return lines.joined(separator: "\n")
    }

    static func environment(_ keys: [ConfigurationKey]) -> String {
        var lines = ["| variable | sets |", "|---|---|"]
        for key in keys { if let env = key.environment { lines.append("| `\(env)` | `\(key.path)` |") } }
        return lines.joined(separator: "\n")
    }

    static func reload(_ keys: [ConfigurationKey]) -> String {
        func list(_ policy: ConfigurationKey.Reload) -> String {
            var labels: [String] = []
            for key in keys where key.reload == policy {
                let label = "`" + (key.row?.replacing("<level>", with: "{warning,critical,emergency}") ?? key.path) + "`"
                if !labels.contains(label) { labels.append(label) }
            }
            return labels.joined(separator: ", ")
        }
        return "Applied at once: " + list(.live) + ".\n\nKept until a restart (the log names each changed one): " + list(.restart) + "."
    }
}
