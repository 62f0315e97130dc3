import FirezoneTime

/// One established session: the transport keys of one handshake, its counters and its replay window.
///
/// A class because it owns its cipher contexts (freed and wiped with it) and is mutated in place from a slot
/// without copying its window.
final class Session {
    let localIndex: SessionIndex
    let remoteIndex: UInt32
    let established: Instant
    /// Whether we sent the initiation: only the initiator rekeys on age (§6.2), so both sides never race.
    let isInitiator: Bool
    /// §5.4.6: a responder must not send on a session until the initiator has used it, proving it has the keys.
    var confirmed: Bool
    private(set) var sendingCounter: UInt64 = 0
    var replayWindow = ReplayWindow()
    let sender: TransportCipher
    let receiver: TransportCipher

    init(localIndex: SessionIndex, remoteIndex: UInt32, keys: inout Noise.SessionKeys, isInitiator: Bool, now: Instant)
    {
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.established = now
        self.isInitiator = isInitiator
        self.confirmed = isInitiator
        self.sender = TransportCipher(key: keys.sending)
        self.receiver = TransportCipher(key: keys.receiving)
        keys.sending.setZero()
        keys.receiving.setZero()
    }

    /// Frees both cipher contexts until their next use (``WireGuardTunnel/setLowPower(_:)``).
    func releaseCiphers() {
        self.sender.releaseContext()
        self.receiver.releaseContext()
    }

    /// Whether this session may carry another outgoing packet. Age is not checked here: the tunnel drops a session
    /// the moment it reaches ``WireGuardConstants/rejectAfterTime``.
    var canSend: Bool {
        self.confirmed && self.sendingCounter < WireGuardConstants.rejectAfterMessages
    }

    /// The counter for the next outgoing packet.
    func takeSendingCounter() -> UInt64 {
        defer { self.sendingCounter += 1 }
        return self.sendingCounter
    }

    /// §6.2: the initiator of a session rekeys after `rekeyAfterTime`; either side after `rekeyAfterMessages`.
    func needsRekeyAfterSending(now: Instant) -> Bool {
        self.sendingCounter >= WireGuardConstants.rekeyAfterMessages
            || (self.isInitiator && now - self.established >= WireGuardConstants.rekeyAfterTime)
    }

    /// wireguard-go `keepKeyFreshReceiving`: the initiator rekeys a little before the session would be rejected,
    /// so that a peer that only receives still gets a new session in time.
    func needsRekeyAfterReceiving(now: Instant) -> Bool {
        self.isInitiator
            && now - self.established
                >= WireGuardConstants.rejectAfterTime - WireGuardConstants.keepaliveTimeout
                - WireGuardConstants.rekeyTimeout
    }
}
