import FirezoneCrypto

/// The Noise_IKpsk2 handshake of WireGuard §5.4, message by message, on raw message bytes.
///
/// Pure functions: keys, indices, timestamps and ephemeral secrets come in, messages and session keys go out.
/// ``WireGuardTunnel`` owns the state between them. Every intermediate secret is zeroed before it goes out of scope.
package enum Noise {
    /// §5.4.2: `C_i := Hash(Construction)`.
    package static let initialChainingKey: Bytes32 = bytes(of: WireGuardConstants.construction) { BLAKE2s.hash($0) }
    /// §5.4.2: `H_i := Hash(C_i ‖ Identifier)`.
    static let identifierHash: Bytes32 = initialChainingKey.withUnsafeBytes { key in
        bytes(of: WireGuardConstants.identifier) { BLAKE2s.hash(key, $0) }
    }

    /// §5.4.2: `H_i := Hash(H_i ‖ S_pub_r)`.
    static func initialHash(responder: PublicKey) -> Bytes32 {
        Self.identifierHash.withUnsafeBytes { hash in
            responder.rawValue.withUnsafeBytes { BLAKE2s.hash(hash, $0) }
        }
    }

    /// `Hash(label ‖ key)`: the MAC1 key and the cookie key of a static public key.
    static func labelledKey(_ label: String, _ key: PublicKey) -> Bytes32 {
        bytes(of: label) { label in
            key.rawValue.withUnsafeBytes { BLAKE2s.hash(label, $0) }
        }
    }

    private static func bytes<R>(of text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var text = text
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    /// `H := Hash(H ‖ bytes)`.
    private static func mix(_ hash: inout Bytes32, _ bytes: UnsafeRawBufferPointer) {
        hash = hash.withUnsafeBytes { BLAKE2s.hash($0, bytes) }
    }

    private static func mix(_ hash: inout Bytes32, _ key: Bytes32) {
        key.withUnsafeBytes { Self.mix(&hash, $0) }
    }

    /// The initiator's state between sending an initiation and receiving the response.
    package struct InitiatorState {
        var chainingKey: Bytes32
        var hash: Bytes32
        var ephemeral: StaticSecret
        let localIndex: SessionIndex

        mutating func setZero() {
            self.chainingKey.setZero()
            self.hash.setZero()
            self.ephemeral.setZero()
        }
    }

    /// An initiation whose initiator static key is decrypted, before its timestamp is.
    package struct DecryptedInitiator {
        var chainingKey: Bytes32
        var hash: Bytes32
        let ephemeral: PublicKey
        package let staticKey: PublicKey
        let senderIndex: UInt32

        mutating func setZero() {
            self.chainingKey.setZero()
            self.hash.setZero()
        }
    }

    /// A fully consumed initiation.
    package struct ConsumedInitiation {
        var initiator: DecryptedInitiator
        package let timestamp: TAI64N
    }

    /// The transport keys of a new session, from one side's point of view.
    package struct SessionKeys {
        package var sending: Bytes32
        package var receiving: Bytes32
    }

    // MARK: Initiation (§5.4.2)

    /// Writes type, sender, ephemeral, static and timestamp of an initiation into the first 116 bytes of
    /// `message` (the MACs are the caller's). Nil when a DH result is all zeros.
    package static func writeInitiation(
        into message: UnsafeMutableRawBufferPointer,
        local: LocalIdentity,
        remote: RemoteIdentity,
        staticShared: Bytes32,
        localIndex: SessionIndex,
        ephemeral: StaticSecret,
        timestamp: TAI64N
    ) -> InitiatorState? {
        precondition(message.count >= WireGuardConstants.handshakeInitiationLength)
        var chainingKey = Self.initialChainingKey
        var hash = remote.initialHash
        message.storeBytes(of: PacketType.handshakeInitiation.word, as: UInt32.self)
        message.storeBytes(
            of: localIndex.rawValue.littleEndian,
            toByteOffset: WireGuardConstants.senderIndexOffset,
            as: UInt32.self
        )
        // msg.ephemeral := E_pub_i; C_i := Kdf1(C_i, E_pub_i); H_i := Hash(H_i ‖ msg.ephemeral)
        let ephemeralPublic = ephemeral.publicKey
        ephemeralPublic.rawValue.withUnsafeBytes {
            message.baseAddress!.advanced(by: WireGuardConstants.initiationEphemeralOffset).copyMemory(
                from: $0.baseAddress!,
                byteCount: 32
            )
        }
        chainingKey = KDF.derive1(key: chainingKey, input: ephemeralPublic.rawValue)
        Self.mix(&hash, ephemeralPublic.rawValue)

        // (C_i, κ) := Kdf2(C_i, DH(E_priv_i, S_pub_r)); msg.static := Aead(κ, 0, S_pub_i, H_i)
        guard var shared = X25519.sharedSecret(ephemeral, remote.publicKey) else {
            return nil
        }
        var key: Bytes32
        (chainingKey, key) = KDF.derive2(key: chainingKey, input: shared)
        shared.setZero()
        let staticField = UnsafeMutableRawBufferPointer(
            rebasing: message[WireGuardConstants.initiationStaticOffset..<WireGuardConstants.initiationTimestampOffset]
        )
        local.publicKey.rawValue.withUnsafeBytes { staticKey in
            hash.withUnsafeBytes { hash in
                ChaCha20Poly1305.seal(
                    key: key,
                    counter: 0,
                    plaintext: staticKey,
                    aad: hash,
                    output: staticField.baseAddress!
                )
            }
        }
        Self.mix(&hash, UnsafeRawBufferPointer(staticField))

        // (C_i, κ) := Kdf2(C_i, DH(S_priv_i, S_pub_r)); msg.timestamp := Aead(κ, 0, Timestamp(), H_i)
        (chainingKey, key) = KDF.derive2(key: chainingKey, input: staticShared)
        let timestampField = UnsafeMutableRawBufferPointer(
            rebasing: message[WireGuardConstants.initiationTimestampOffset..<WireGuardConstants.initiationMAC1Offset]
        )
        var stamp: (UInt64, UInt32) = (0, 0)
        withUnsafeMutableBytes(of: &stamp) { stampBytes in
            timestamp.write(to: stampBytes.baseAddress!)
            hash.withUnsafeBytes { hash in
                ChaCha20Poly1305.seal(
                    key: key,
                    counter: 0,
                    plaintext: UnsafeRawBufferPointer(rebasing: stampBytes[0..<WireGuardConstants.timestampLength]),
                    aad: hash,
                    output: timestampField.baseAddress!
                )
            }
        }
        key.setZero()
        Self.mix(&hash, UnsafeRawBufferPointer(timestampField))
        return InitiatorState(chainingKey: chainingKey, hash: hash, ephemeral: ephemeral, localIndex: localIndex)
    }

    /// The responder's first half: decrypts the initiator's static key. This is all it takes to learn who is
    /// calling before choosing a tunnel (Firezone #10109).
    package static func decryptInitiator(
        _ message: UnsafeRawBufferPointer,
        local: LocalIdentity
    ) throws(WireGuardError) -> DecryptedInitiator {
        var chainingKey = Self.initialChainingKey
        var hash = local.initialHash
        let ephemeral = PublicKey(Bytes32(copying: message.baseAddress! + WireGuardConstants.initiationEphemeralOffset))
        chainingKey = KDF.derive1(key: chainingKey, input: ephemeral.rawValue)
        Self.mix(&hash, ephemeral.rawValue)
        guard var shared = X25519.sharedSecret(local.secret, ephemeral) else {
            throw .lowOrderPoint
        }
        var key: Bytes32
        (chainingKey, key) = KDF.derive2(key: chainingKey, input: shared)
        shared.setZero()
        defer { key.setZero() }
        let staticField = UnsafeRawBufferPointer(
            rebasing: message[WireGuardConstants.initiationStaticOffset..<WireGuardConstants.initiationTimestampOffset]
        )
        var staticKey = Bytes32.zero
        let opened = staticKey.withUnsafeMutableBytes { output in
            hash.withUnsafeBytes { hash in
                ChaCha20Poly1305.open(
                    key: key,
                    counter: 0,
                    ciphertext: staticField,
                    aad: hash,
                    output: output.baseAddress!
                )
            }
        }
        guard opened else {
            throw .decryptionFailed
        }
        Self.mix(&hash, staticField)
        return DecryptedInitiator(
            chainingKey: chainingKey,
            hash: hash,
            ephemeral: ephemeral,
            staticKey: PublicKey(staticKey),
            senderIndex: UInt32(
                littleEndian: message.loadUnaligned(
                    fromByteOffset: WireGuardConstants.senderIndexOffset,
                    as: UInt32.self
                )
            )
        )
    }

    /// The responder's second half: decrypts the timestamp with the static-static secret of this peer.
    package static func finishInitiation(
        _ message: UnsafeRawBufferPointer,
        initiator: consuming DecryptedInitiator,
        staticShared: Bytes32
    ) throws(WireGuardError) -> ConsumedInitiation {
        var key: Bytes32
        (initiator.chainingKey, key) = KDF.derive2(key: initiator.chainingKey, input: staticShared)
        defer { key.setZero() }
        let timestampField = UnsafeRawBufferPointer(
            rebasing: message[WireGuardConstants.initiationTimestampOffset..<WireGuardConstants.initiationMAC1Offset]
        )
        var stamp: (UInt64, UInt64) = (0, 0)
        let opened = withUnsafeMutableBytes(of: &stamp) { output in
            initiator.hash.withUnsafeBytes { hash in
                ChaCha20Poly1305.open(
                    key: key,
                    counter: 0,
                    ciphertext: timestampField,
                    aad: hash,
                    output: output.baseAddress!
                )
            }
        }
        guard opened else {
            initiator.setZero()
            throw .decryptionFailed
        }
        Self.mix(&initiator.hash, timestampField)
        let timestamp = withUnsafeBytes(of: &stamp) { TAI64N(bytes: $0) }
        return ConsumedInitiation(initiator: initiator, timestamp: timestamp)
    }

    // MARK: Response (§5.4.3)

    /// Writes type, indices, ephemeral and the empty field of a response into the first 60 bytes of `message` and
    /// returns the responder's transport keys.
    package static func writeResponse(
        into message: UnsafeMutableRawBufferPointer,
        initiation: consuming ConsumedInitiation,
        presharedKey: PresharedKey,
        localIndex: SessionIndex,
        ephemeral: StaticSecret
    ) throws(WireGuardError) -> SessionKeys {
        precondition(message.count >= WireGuardConstants.handshakeResponseLength)
        var chainingKey = initiation.initiator.chainingKey
        var hash = initiation.initiator.hash
        defer {
            chainingKey.setZero()
            hash.setZero()
            initiation.initiator.setZero()
        }
        message.storeBytes(of: PacketType.handshakeResponse.word, as: UInt32.self)
        message.storeBytes(
            of: localIndex.rawValue.littleEndian,
            toByteOffset: WireGuardConstants.senderIndexOffset,
            as: UInt32.self
        )
        message.storeBytes(
            of: initiation.initiator.senderIndex.littleEndian,
            toByteOffset: WireGuardConstants.responseReceiverIndexOffset,
            as: UInt32.self
        )
        // msg.ephemeral := E_pub_r; C_r := Kdf1(C_r, E_pub_r); H_r := Hash(H_r ‖ msg.ephemeral)
        let ephemeralPublic = ephemeral.publicKey
        ephemeralPublic.rawValue.withUnsafeBytes {
            message.baseAddress!.advanced(by: WireGuardConstants.responseEphemeralOffset).copyMemory(
                from: $0.baseAddress!,
                byteCount: 32
            )
        }
        chainingKey = KDF.derive1(key: chainingKey, input: ephemeralPublic.rawValue)
        Self.mix(&hash, ephemeralPublic.rawValue)
        // C_r := Kdf1(C_r, DH(E_priv_r, E_pub_i)); C_r := Kdf1(C_r, DH(E_priv_r, S_pub_i))
        guard var shared = X25519.sharedSecret(ephemeral, initiation.initiator.ephemeral) else {
            throw .lowOrderPoint
        }
        chainingKey = KDF.derive1(key: chainingKey, input: shared)
        guard let staticShared = X25519.sharedSecret(ephemeral, initiation.initiator.staticKey) else {
            shared.setZero()
            throw .lowOrderPoint
        }
        shared = staticShared
        chainingKey = KDF.derive1(key: chainingKey, input: shared)
        shared.setZero()
        // (C_r, τ, κ) := Kdf3(C_r, Q); H_r := Hash(H_r ‖ τ); msg.empty := Aead(κ, 0, ε, H_r)
        var (tau, key): (Bytes32, Bytes32)
        (chainingKey, tau, key) = KDF.derive3(key: chainingKey, input: presharedKey.rawValue)
        Self.mix(&hash, tau)
        tau.setZero()
        let emptyField = message.baseAddress!.advanced(by: WireGuardConstants.responseEmptyOffset)
        hash.withUnsafeBytes { hash in
            ChaCha20Poly1305.seal(
                key: key,
                counter: 0,
                plaintext: UnsafeRawBufferPointer(start: nil, count: 0),
                aad: hash,
                output: emptyField
            )
        }
        key.setZero()
        // (T_recv_r, T_send_r) := Kdf2(C_r, ε)
        let (receiving, sending) = KDF.derive2(key: chainingKey, input: UnsafeRawBufferPointer(start: nil, count: 0))
        return SessionKeys(sending: sending, receiving: receiving)
    }

    /// Consumes a response to the initiation `state` describes; returns the initiator's transport keys.
    package static func consumeResponse(
        _ message: UnsafeRawBufferPointer,
        state: InitiatorState,
        local: LocalIdentity,
        presharedKey: PresharedKey
    ) throws(WireGuardError) -> SessionKeys {
        var chainingKey = state.chainingKey
        var hash = state.hash
        defer {
            chainingKey.setZero()
            hash.setZero()
        }
        let ephemeral = PublicKey(Bytes32(copying: message.baseAddress! + WireGuardConstants.responseEphemeralOffset))
        chainingKey = KDF.derive1(key: chainingKey, input: ephemeral.rawValue)
        Self.mix(&hash, ephemeral.rawValue)
        // C_i := Kdf1(C_i, DH(E_priv_i, E_pub_r)); C_i := Kdf1(C_i, DH(S_priv_i, E_pub_r))
        guard var shared = X25519.sharedSecret(state.ephemeral, ephemeral) else {
            throw .lowOrderPoint
        }
        chainingKey = KDF.derive1(key: chainingKey, input: shared)
        guard let staticShared = X25519.sharedSecret(local.secret, ephemeral) else {
            shared.setZero()
            throw .lowOrderPoint
        }
        shared = staticShared
        chainingKey = KDF.derive1(key: chainingKey, input: shared)
        shared.setZero()
        var (tau, key): (Bytes32, Bytes32)
        (chainingKey, tau, key) = KDF.derive3(key: chainingKey, input: presharedKey.rawValue)
        defer { key.setZero() }
        Self.mix(&hash, tau)
        tau.setZero()
        let emptyField = UnsafeRawBufferPointer(
            rebasing: message[WireGuardConstants.responseEmptyOffset..<WireGuardConstants.responseMAC1Offset]
        )
        let opened = hash.withUnsafeBytes { hash in
            withUnsafeTemporaryAllocation(byteCount: 1, alignment: 1) { output in
                ChaCha20Poly1305.open(
                    key: key,
                    counter: 0,
                    ciphertext: emptyField,
                    aad: hash,
                    output: output.baseAddress!
                )
            }
        }
        guard opened else {
            throw .decryptionFailed
        }
        // (T_send_i, T_recv_i) := Kdf2(C_i, ε)
        let (sending, receiving) = KDF.derive2(key: chainingKey, input: UnsafeRawBufferPointer(start: nil, count: 0))
        return SessionKeys(sending: sending, receiving: receiving)
    }

    // MARK: MACs (§5.4.4)

    /// `msg.mac1 := Mac(key, msg_α)`; `msg.mac2 := Mac(cookie, msg_β)` or zeros without a fresh cookie.
    /// `mac1Offset` is where MAC1 starts; MAC2 follows it. Returns MAC1, which a cookie reply will be bound to.
    package static func writeMACs(
        into message: UnsafeMutableRawBufferPointer,
        mac1Offset: Int,
        mac1Key: Bytes32,
        cookie: MAC?
    ) -> MAC {
        let mac1 = mac1Key.withUnsafeBytes { key in
            BLAKE2s.mac(key: key, UnsafeRawBufferPointer(rebasing: message[0..<mac1Offset]))
        }
        mac1.write(to: message.baseAddress! + mac1Offset)
        let mac2Offset = mac1Offset + WireGuardConstants.macLength
        let mac2 =
            cookie.map { cookie in
                cookie.withUnsafeBytes { key in
                    BLAKE2s.mac(key: key, UnsafeRawBufferPointer(rebasing: message[0..<mac2Offset]))
                }
            } ?? .zero
        mac2.write(to: message.baseAddress! + mac2Offset)
        return mac1
    }

    /// Whether MAC1 of `message` is right for a message addressed to the key behind `mac1Key`.
    static func checkMAC1(_ message: UnsafeRawBufferPointer, mac1Offset: Int, mac1Key: Bytes32) -> Bool {
        let expected = mac1Key.withUnsafeBytes { key in
            BLAKE2s.mac(key: key, UnsafeRawBufferPointer(rebasing: message[0..<mac1Offset]))
        }
        return expected == MAC(copying: message.baseAddress! + mac1Offset)
    }
}
