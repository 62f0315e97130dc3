import ConnlibCore
import IPPacket

/// The resolv.conf(5) format as far as DNS control needs it: reading the system's name servers, and writing a
/// file that points the system at connlib's sentinel addresses.
public enum ResolvConf {
    /// The name servers of a resolv.conf, in file order, without connlib's own sentinels (a file written by a run
    /// that did not restore it must not make connlib its own upstream) and without duplicates. An IPv6 address's
    /// zone (`%eth0`) is dropped.
    public static func nameservers(in text: String) -> [IPAddress] {
        var found: [IPAddress] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { continue }
            let text = fields[1].split(separator: "%", maxSplits: 1)[0]
            if let address = IPAddress(text), !Self.isSentinel(address), !found.contains(address) {
                found.append(address)
            }
        }
        return found
    }

    /// A resolv.conf that sends every query to `nameservers`, with `searchDomain` as its search list.
    public static func render(nameservers: [IPAddress], searchDomain: String?, backupPath: String) -> String {
        var text = "# Written by Firezone while it runs; the system's file is kept at \(backupPath)\n"
        text += "# and comes back when Firezone exits.\n"
        for address in nameservers {
            text += "nameserver \(address)\n"
        }
        if let searchDomain, !searchDomain.isEmpty {
            text += "search \(searchDomain)\n"
        }
        return text
    }

    static func isSentinel(_ address: IPAddress) -> Bool {
        AddressPlan.sentinelV4.contains(address) || AddressPlan.sentinelV6.contains(address)
    }
}
