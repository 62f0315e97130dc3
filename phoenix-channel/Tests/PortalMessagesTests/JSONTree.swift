import Foundation

/// Any JSON value, to compare our encodings with the fixtures' shapes independently of our own types.
enum JSONTree: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    init(parsing text: String) throws {
        self = try JSONDecoder().decode(JSONTree.self, from: Data(text.utf8))
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONTree].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONTree].self))
        }
    }

    subscript(key: String) -> JSONTree? {
        if case .object(let members) = self {
            return members[key]
        }
        return nil
    }

    /// Whether everything `self` says is also said by `other`: every non-null member of an object is present in
    /// `other` with a value that is in turn contained, arrays match element by element. `other` may say more
    /// (the fields we ignore); a null member counts as absent.
    func isContained(in other: JSONTree) -> Bool {
        switch (self, other) {
        case (.object(let mine), .object(let theirs)):
            return mine.allSatisfy { key, value in
                if value == .null {
                    return theirs[key] == nil || theirs[key] == .null
                }
                guard let counterpart = theirs[key] else {
                    return false
                }
                return value.isContained(in: counterpart)
            }
        case (.array(let mine), .array(let theirs)):
            return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0.isContained(in: $1) }
        default:
            return self == other
        }
    }

    /// Equal but for null members, which count as absent.
    func isEquivalent(to other: JSONTree) -> Bool {
        self.isContained(in: other) && other.isContained(in: self)
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "\"\(value)\""
        case .array(let values): "[\(values.map(\.description).joined(separator: ","))]"
        case .object(let members):
            "{\(members.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ","))}"
        }
    }
}
