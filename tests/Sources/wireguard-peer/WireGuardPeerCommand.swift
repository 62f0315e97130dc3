import ArgumentParser
import Glibc
import Logging
import WireGuardPeer

/// `wireguard-peer IFNAME CONFIG`: a userspace WireGuard device that can stand in for
/// `wireguard-go -f IFNAME` plus `wg setconf IFNAME CONFIG` in a script. Addresses, MTU and link state are set by
/// the caller with `ip`. Exit status: 0 after SIGINT or SIGTERM, 2 for a bad configuration, 1 for an IO failure.
@main
struct WireGuardPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wireguard-peer",
        abstract: "A userspace WireGuard device configured with a `wg setconf` file."
    )

    @Argument(help: "The TUN interface to create.")
    var interfaceName: String

    @Argument(help: "The configuration file, in the `wg setconf` format.")
    var configurationPath: String

    func run() throws {
        let logLevel = getenv("LOG_LEVEL").flatMap { Logger.Level(rawValue: String(cString: $0)) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "wireguard-peer")

        let text: String
        do {
            text = try Self.read(self.configurationPath)
        } catch {
            Self.fail("\(self.configurationPath): \(error)", status: 2)
        }
        let configuration: DeviceConfiguration
        do {
            configuration = try DeviceConfiguration(parsing: text, path: self.configurationPath)
        } catch {
            Self.fail("\(error)", status: 2)
        }
        do {
            let device = try WireGuardDevice(
                interfaceName: self.interfaceName,
                configuration: configuration,
                logger: logger
            )
            try device.run()
            logger.info("Stopped", metadata: ["drops": "\(device.stats)"])
        } catch {
            Self.fail("\(error)", status: 1)
        }
    }

    private static func fail(_ message: String, status: Int32) -> Never {
        let line = Array("wireguard-peer: \(message)\n".utf8)
        _ = line.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        Glibc.exit(status)
    }

    private struct ReadError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { String(cString: strerror(self.errno)) }
    }

    private static func read(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw ReadError(errno: errno)
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 {
                break
            }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
