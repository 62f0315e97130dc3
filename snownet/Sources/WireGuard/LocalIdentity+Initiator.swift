import FirezoneCrypto
import NIOCore

extension LocalIdentity {
    /// Decrypts the static key of a handshake initiation to us, so that the tunnel for it is chosen by that key
    /// before any tunnel state is touched (Firezone's rust/connlib/snownet/src/node.rs, #10109). MAC1 is checked first, so that random
    /// bytes cost no DH.
    public func decryptInitiation(_ datagram: ByteBuffer) throws(WireGuardError) -> DecryptedInitiation {
        guard case .handshakeInitiation = try PacketHeader(parsing: datagram) else {
            throw .invalidMessage
        }
        let result: Result<Noise.DecryptedInitiator, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.initiationMAC1Offset, mac1Key: self.mac1Key)
            else {
                return .failure(.invalidMAC1)
            }
            do throws(WireGuardError) {
                return .success(try Noise.decryptInitiator(raw, local: self))
            } catch {
                return .failure(error)
            }
        }
        return DecryptedInitiation(state: try result.get())
    }

    /// The static public key of whoever sent this handshake initiation to us; see ``decryptInitiation(_:)``.
    public func initiatorKey(of datagram: ByteBuffer) throws(WireGuardError) -> PublicKey {
        var initiation = try self.decryptInitiation(datagram)
        defer { initiation.setZero() }
        return initiation.initiatorKey
    }
}
