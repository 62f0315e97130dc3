import NIOSSL

/// Which TLS failures end the session.
///
/// Only a certificate the portal cannot prove itself with is fatal, as Firezone 685acdac3a treats rustls'
/// `InvalidCertificate` (rust/connlib/phoenix-channel/src/lib.rs): a wrong chain or a wrong name does not fix
/// itself. Everything else that goes wrong during the handshake is the network or the portal going away, above
/// all a connection reset in the middle of the handshake while the portal's load balancer drains a redeployed
/// instance; treating that as fatal would make every gateway exit on a portal deploy, so it is retried.
enum TLSFailure {
    /// Whether `error` rejects the portal's certificate: its chain does not verify against the trusted roots, or
    /// it does not name the host we connected to.
    static func rejectsCertificate(_ error: any Error) -> Bool {
        if let error = error as? NIOSSLExtraError {
            return error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch
        }
        guard let error = error as? NIOSSLError else {
            return false
        }
        switch error {
        case .handshakeFailed(.sslError(let stack)):
            // BoringSSL reports a chain that fails verification as SSL_R_CERTIFICATE_VERIFY_FAILED, whose reason
            // text the error's description carries. (NIOSSL checks the name itself: `failedToValidateHostname`.)
            return stack.contains { $0.description.contains(Self.certificateVerifyFailed) }
        case .noCertificateToValidate, .unableToValidateCertificate, .cannotMatchULabel:
            return true
        default:
            return false
        }
    }

    /// BoringSSL's reason string for SSL_R_CERTIFICATE_VERIFY_FAILED (include/openssl/ssl.h).
    static let certificateVerifyFailed = "CERTIFICATE_VERIFY_FAILED"
}
