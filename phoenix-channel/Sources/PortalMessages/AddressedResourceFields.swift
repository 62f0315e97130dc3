/// What a client's DNS and CIDR resources share on the wire, coded once for both: `id`, `address` (a domain
/// pattern or a network), `name`, `address_description`, `gateway_groups` and `filters`. Each resource codes its own
/// further keys into the same object beside these.
struct AddressedResourceFields<Address: Codable>: Codable {
    var id: ResourceID
    var address: Address
    var name: String
    var addressDescription: String?
    var sites: [Site]
    var filters: [Filter]
}

extension AddressedResourceFields {
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(ResourceID.self, forKey: .id)
        self.address = try container.decode(Address.self, forKey: .address)
        self.name = try container.decode(String.self, forKey: .name)
        self.addressDescription = try container.decodeIfPresent(String.self, forKey: .addressDescription)
        self.sites = try container.decode([Site].self, forKey: .sites)
        self.filters = try container.decodeIfPresent([Filter].self, forKey: .filters) ?? []
    }

    /// `filters` only when there are some: Firezone 685acdac3a's portal sends client resources without.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.address, forKey: .address)
        try container.encode(self.name, forKey: .name)
        try container.encodeIfPresent(self.addressDescription, forKey: .addressDescription)
        try container.encode(self.sites, forKey: .sites)
        if !self.filters.isEmpty {
            try container.encode(self.filters, forKey: .filters)
        }
    }

    private enum CodingKeys: String, CodingKey {
        case id, address, name, filters
        case addressDescription = "address_description"
        case sites = "gateway_groups"
    }
}
