import MemoryMonitor

/// Reads a fixture captured from a real kernel (or written in its exact format) by file name.
func fixture(_ name: String, filePath: String = #filePath) -> String {
    let directory = filePath.split(separator: "/").dropLast().joined(separator: "/")
    guard let text = ProcFile.read("/" + directory + "/Fixtures/" + name) else { fatalError("missing fixture \(name)") }
    return text
}
