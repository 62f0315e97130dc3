import NIOCore

/// A handshake initiation addressed to us whose initiator static key is decrypted (§5.4.2, responder side, up to
/// `msg.static`): enough to pick the tunnel, which then finishes the initiation without repeating the DH with our
/// static key.
public struct DecryptedInitiation {
    var state: Noise.DecryptedInitiator

    /// The static public key of whoever sent the initiation.
    public var initiatorKey: PublicKey {
        self.state.staticKey
    }

    /// Wipes the chaining key and hash of a decrypted initiation that no tunnel will consume.
    public mutating func setZero() {
        self.state.setZero()
    }
}

extension LocalIdentity {
    /// Decrypts the static key of a handshake initiation to us, so that the tunnel for it is chosen by that key
    /// before any tunnel state is touched (reference §2.3, seed 004 #10109). MAC1 is checked first, so that random
    /// bytes cost no DH.
    public func decryptInitiation(_ datagram: ByteBuffer) throws(WireGuardError) -> DecryptedInitiation {
        guard case .handshakeInitiation = try PacketHeader(parsing: datagram) else {
            throw .invalidMessage
        }
        let result: Result<Noise.DecryptedInitiator, WireGuardError> = datagram.withUnsafeReadableBytes { raw in
            guard Noise.checkMAC1(raw, mac1Offset: WireGuardConstants.initiationMAC1Offset, mac1Key: self.mac1Key) else {
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
