import FirezoneCommand
import Glibc
import Testing

@Suite struct HostNameTests {
    @Test func theHostNameIsTheKernelsNodeName() throws {
        var names = utsname()
        try #require(uname(&names) == 0)
        let nodeName = withUnsafeBytes(of: &names.nodename) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        #expect(HostName.current() == (nodeName.isEmpty ? nil : nodeName))
    }
}
