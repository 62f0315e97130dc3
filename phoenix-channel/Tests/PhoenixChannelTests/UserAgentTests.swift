import PhoenixChannel
import Testing

/// The OS part of the User-Agent from literal os-release(5) contents, as the `os_info` crate reads them.
struct UserAgentTests {
    static let debian12 = """
        PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
        NAME="Debian GNU/Linux"
        VERSION_ID="12"
        VERSION="12 (bookworm)"
        VERSION_CODENAME=bookworm
        ID=debian
        HOME_URL="https://www.debian.org/"
        """

    static let ubuntu2204 = """
        PRETTY_NAME="Ubuntu 22.04.4 LTS"
        NAME="Ubuntu"
        VERSION_ID="22.04"
        VERSION="22.04.4 LTS (Jammy Jellyfish)"
        VERSION_CODENAME=jammy
        ID=ubuntu
        ID_LIKE=debian
        """

    static let alpine = """
        NAME="Alpine Linux"
        ID=alpine
        VERSION_ID=3.20.3
        PRETTY_NAME="Alpine Linux v3.20"
        """

    static let rhel = """
        NAME="Red Hat Enterprise Linux"
        VERSION="9.4 (Plow)"
        ID="rhel"
        ID_LIKE="fedora"
        VERSION_ID="9.4"
        """

    static let arch = """
        NAME="Arch Linux"
        PRETTY_NAME="Arch Linux"
        ID=arch
        BUILD_ID=rolling
        """

    static let gentoo = """
        NAME=Gentoo
        ID=gentoo
        PRETTY_NAME="Gentoo Linux"
        VERSION_ID="2.15"
        """

    static let sles = """
        NAME="SLES"
        VERSION="15-SP5"
        VERSION_ID="15-SP5"
        ID="sles"
        """

    /// The type comes from `ID` (never from `NAME`), the version is `VERSION_ID` as written.
    @Test(arguments: [
        (debian12, "Debian", "12"),
        (ubuntu2204, "Ubuntu", "22.04"),
        (alpine, "Alpine Linux", "3.20.3"),
        (rhel, "Red Hat Enterprise Linux", "9.4"),
        (arch, "Arch Linux", "Unknown"),
        (sles, "SUSE Linux Enterprise Server", "15-SP5"),
        (gentoo, "Linux", "Unknown"),
    ])
    func theOperatingSystemIsNamedAsOSInfoNamesIt(osRelease: String, name: String, version: String) {
        let system = OperatingSystemRelease(osRelease: osRelease)
        #expect(system.name == name)
        #expect(system.version == version)
    }

    @Test
    func aMissingOrEmptyOSReleaseIsPlainLinux() {
        for text in [nil, "", "NAME=Something\n"] {
            #expect(OperatingSystemRelease(osRelease: text) == OperatingSystemRelease(osRelease: "ID=gentoo"))
            #expect(OperatingSystemRelease(osRelease: text).name == "Linux")
            #expect(OperatingSystemRelease(osRelease: text).version == "Unknown")
        }
    }

    /// A key matches only at the start of a line (`VERSION_ID=` is no `ID=`); CRLF line ends and unquoted values
    /// read the same; an empty `VERSION_ID` is unknown.
    @Test
    func keysMatchWholeAtTheStartOfALine() {
        let crlf = "VERSION_ID=\"11\"\r\nID=debian\r\n"
        #expect(OperatingSystemRelease(osRelease: crlf).name == "Debian")
        #expect(OperatingSystemRelease(osRelease: crlf).version == "11")
        let empty = "ID=fedora\nVERSION_ID=\"\"\n"
        #expect(OperatingSystemRelease(osRelease: empty).name == "Fedora")
        #expect(OperatingSystemRelease(osRelease: empty).version == "Unknown")
    }

    @Test
    func theUserAgentJoinsOSComponentMachineAndKernel() {
        let agent = UserAgent.format(
            system: OperatingSystemRelease(osRelease: Self.debian12),
            component: "gateway",
            version: "1.4.15",
            machine: "x86_64",
            kernel: "6.1.0-18-amd64"
        )
        #expect(agent == "Debian/12 gateway/1.4.15 (x86_64; 6.1.0-18-amd64)")
    }

    /// This host's, for the shape only: the component and version, then `(<machine>; <kernel>)`.
    @Test
    func theHostsUserAgentHasTheSameShape() {
        let agent = UserAgent.make(component: "relay", version: "0.0.0")
        #expect(agent.contains(" relay/0.0.0 ("))
        #expect(agent.hasSuffix(")"))
        #expect(agent.contains("; "))
        #expect(!agent.contains("GNU/Linux"))
    }
}
