import PortalServer
import Testing

struct PortalConfigurationTests {
    @Test
    func theExampleConfigurationLoads() throws {
        var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        let path = (components + ["example.json"]).joined(separator: "/")
        let configuration = try PortalConfiguration.load(path: path)
        #expect(configuration.resources.count == 2)
        #expect(configuration.tunnel == .firezone)
    }

    @Test(arguments: [
        (#"{"sites":[{"id":"a","name":"A"},{"id":"a","name":"B"}]}"#, "duplicate site id 'a'"),
        (
            #"{"gateways":[{"id":"g","name":"g","site_id":"nowhere","token":"t"}]}"#,
            "gateway 'g' names the unknown site 'nowhere'"
        ),
        (
            #"{"sites":[{"id":"a","name":"A"}],"resources":[{"id":"r","type":"cidr","address":"10.0.0.1/8","site_ids":["a"]}]}"#,
            "host bits zero"
        ),
        (
            #"{"sites":[{"id":"a","name":"A"}],"resources":[{"id":"r","type":"vpn","site_ids":["a"]}]}"#,
            "unknown type 'vpn'"
        ),
        (
            #"{"sites":[{"id":"a","name":"A"}],"resources":[{"id":"r","type":"internet","site_ids":[]}]}"#,
            "at least one site"
        ),
        (#"{"clients":[{"id":"c","name":"c","token":"t","group_ids":["g"]}]}"#, "unknown group 'g'"),
        (
            #"{"clients":[{"id":"c","name":"c","token":"t","group_ids":[]}],"relays":[{"id":"r","token":"t"}]}"#,
            "duplicate token"
        ),
        (#"{"relays":[{"id":"r","token":""}]}"#, "a token is empty"),
        (#"{"policies":[{"group_id":"g","resource_id":"r"}]}"#, "unknown group 'g'"),
        (
            #"{"tunnel":{"ipv4":"100.64.0.0/30","ipv6":"fd00::/120"},"clients":[{"id":"a","name":"a","token":"1","group_ids":[]},{"id":"b","name":"b","token":"2","group_ids":[]},{"id":"c","name":"c","token":"3","group_ids":[]}]}"#,
            "too small"
        ),
        (
            #"{"sites":[{"id":"a","name":"A","token":"t"}],"relays":[{"id":"r","token":"t"}]}"#,
            "duplicate token"
        ),
        (
            #"{"relays":[{"id":"r","token":"t"}],"turn_servers":[{"id":"r","address":"192.0.2.1:3478","username":"u","password":"p"}]}"#,
            "duplicate relay or TURN server id 'r'"
        ),
        (
            #"{"turn_servers":[{"id":"t","address":"192.0.2.1:3478","username":"u","password":""}]}"#,
            "username and password must not be empty"
        ),
        (
            #"{"turn_servers":[{"id":"t","address":["192.0.2.1:3478","192.0.2.2:3478"],"username":"u","password":"p"}]}"#,
            "one per address family"
        ),
        (#"{"turn_servers":[{"id":"t","address":"turn.example:3478","username":"u","password":"p"}]}"#, "address"),
        (#"{"flow_lifetime":0}"#, "between one second and a century"),
        (
            #"{"groups":[{"id":"g","name":"g"}],"sites":[{"id":"a","name":"A"}],"resources":[{"id":"r","type":"internet","site_ids":["a"]}],"policies":[{"group_id":"g","resource_id":"r","flow_lifetime":18446744073709551615}]}"#,
            "between one second and a century"
        ),
        (#"{"upstream_dns":["1.1.1.1"]}"#, "upstream_dns"),
        (#"{"sites":5}"#, "sites"),
        ("{", "not valid JSON"),
    ])
    func badConfigurationsAreRefusedWithAReason(text: String, reason: String) {
        #expect {
            try PortalConfiguration.parse(text, source: "test.json")
        } throws: { error in
            "\(error)".hasPrefix("test.json: ") && "\(error)".contains(reason)
        }
    }
}
