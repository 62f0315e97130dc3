import IPPacket

/// At most one address per IP family, IPv4 first.
struct FamilyAddresses {
    var v4: IPSocketAddress?
    var v6: IPSocketAddress?

    var all: [IPSocketAddress] {
        [self.v4, self.v6].compactMap { $0 }
    }

    var isEmpty: Bool {
        self.v4 == nil && self.v6 == nil
    }

    subscript(family: IPVersion) -> IPSocketAddress? {
        get {
            switch family {
            case .v4: self.v4
            case .v6: self.v6
            }
        }
        set {
            switch family {
            case .v4: self.v4 = newValue
            case .v6: self.v6 = newValue
            }
        }
    }
}
