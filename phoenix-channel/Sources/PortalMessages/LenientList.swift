/// A list read element by element, keeping what decodes and counting what does not.
///
/// Firezone's connlib reads the resource list of `init` this way: a resource of an unknown type, or one that is
/// missing fields, is skipped, and the rest still apply (the `client-init-2` and `client-01` fixtures).
/// Relays of a type other than `turn` and `stun` are skipped the same way.
public struct LenientList<Element: Codable & Sendable & Hashable>: Hashable, Sendable, Codable {
    public var elements: [Element]
    /// How many entries of the JSON list did not decode, for a log line or a counter.
    public var skipped: Int

    public init(_ elements: [Element]) {
        self.elements = elements
        self.skipped = 0
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var elements: [Element] = []
        var skipped = 0
        while !container.isAtEnd {
            // The wrapper always decodes, so the container moves on even past an entry that does not.
            if let element = try container.decode(Attempt.self).element {
                elements.append(element)
            } else {
                skipped += 1
            }
        }
        self.elements = elements
        self.skipped = skipped
    }

    public func encode(to encoder: any Encoder) throws {
        try self.elements.encode(to: encoder)
    }

    /// Lists are equal when their elements are: what was skipped on the way in is a diagnostic, not content.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.elements == rhs.elements
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.elements)
    }

    private struct Attempt: Decodable {
        var element: Element?

        init(from decoder: any Decoder) throws {
            self.element = try? Element(from: decoder)
        }
    }
}

extension KeyedDecodingContainer {
    /// A lenient list that may be absent or null: both read as empty, as connlib's `#[serde(default)]`.
    func decodeLenientList<Element>(
        _ type: Element.Type,
        forKey key: Key
    ) throws -> LenientList<Element> {
        try self.decodeIfPresent(LenientList<Element>.self, forKey: key) ?? LenientList([])
    }
}
