import FirezoneCrypto
import NIOCore

extension LocalIdentity {
    /// The static public key of whoever sent this handshake initiation to us, learned by decrypting its static
    /// field with our key: the tunnel for it is chosen by this key before any tunnel state is touched
    /// (reference §2.3, seed 004 #10109). MAC1 is checked first, so that random bytes cost no DH.
    public func initiatorKey(of datagram: ByteBuffer) throws(WireGuardError) -> PublicKey {
        let header = try PacketHeader(parsing: datagram)
        guard header.type == .handshakeInitiation else {
            throw .invalidMessage
        }
        let result: Result<PublicKey, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.initiationMAC1Offset, mac1Key: self.mac1Key) else {
                return .failure(.invalidMAC1)
            }
            do throws(WireGuardError) {
                var initiator = try Noise.decryptInitiator(raw, local: self)
                initiator.setZero()
                return .success(initiator.staticKey)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
