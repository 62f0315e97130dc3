import ArgumentParser
import FirezoneCrypto
import FirezoneOptions
import Glibc
import RelayCore

/// `firezone-relay credentials`: what a TURN client of this relay needs (Firezone's rust/relay/server/src/auth.rs).
struct Credentials: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a username and password for a TURN client of a relay with this secret."
    )

    @Option(name: .customLong("auth-secret"), help: "The relay's credential secret (env FIREZONE_RELAY_AUTH_SECRET).")
    var authSecret: String?
    @Option(
        name: .customLong("auth-secret-file"),
        help: "A file holding the relay's credential secret (env FIREZONE_RELAY_AUTH_SECRET_FILE)."
    )
    var authSecretFile: String?
    @Option(help: "Expiry in Unix seconds (default: one day from now).")
    var expiry: UInt64?
    @Option(help: "Salt (default: random).")
    var salt: String?

    func validate() throws {
        if let salt, salt.isEmpty {
            throw ValidationError("--salt must not be empty")
        }
    }

    func run() throws {
        let reader = OptionReader(environment: OptionReader.processEnvironment())
        // Any secret the relay may have been given, weak ones included: this mints for tests and vectors too.
        guard
            let secret = try reader.secret(.relayAuthSecret, flag: self.authSecret, fileFlag: self.authSecretFile)
        else {
            throw OptionError("a secret is required: --auth-secret-file, --auth-secret or FIREZONE_RELAY_AUTH_SECRET")
        }
        let expiry = self.expiry ?? UInt64(time(nil)) + 86_400
        let salt = self.salt ?? RelayOptions.randomHex(bytes: 8)
        let (username, password) = RelayCredentials.mint(expiry: expiry, salt: salt, secret: secret.exposedValue)
        print("username=\(username)")
        print("password=\(password)")
    }
}
