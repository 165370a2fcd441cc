/// RFC 4648 base64, for SMTP AUTH and HTTP basic auth.
package enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    package static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i < input.count {
            let b0 = input[i]
            let b1 = i + 1 < input.count ? input[i + 1] : 0
            let b2 = i + 2 < input.count ? input[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < input.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < input.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64; nil for anything else.
    package static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): 62
            case UInt8(ascii: "/"): 63
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            let padding = (input[i + 2] == UInt8(ascii: "=") ? 1 : 0) + (input[i + 3] == UInt8(ascii: "=") ? 1 : 0)
            if padding > 0 && i + 4 != input.count { return nil }
            if input[i + 2] == UInt8(ascii: "=") && input[i + 3] != UInt8(ascii: "=") { return nil }
            guard let a = value(input[i]), let b = value(input[i + 1]) else { return nil }
            let c = padding >= 2 ? 0 : value(input[i + 2])
            let d = padding >= 1 ? 0 : value(input[i + 3])
            guard let c, let d else { return nil }
            out.append(a << 2 | b >> 4)
            if padding < 2 { out.append((b & 0x0F) << 4 | c >> 2) }
            if padding < 1 { out.append((c & 0x03) << 6 | d) }
            i += 4
        }
        return out
    }
}
