/// The agent's view of the connection (the subset of RFC 8445 §6.1.2.1 checklist states and str0m's
/// `IceConnectionState` that Firezone acts on).
public enum IceConnectionState: Hashable, Sendable {
    /// No candidate pair yet.
    case new
    /// Pairs are being checked and none is nominated.
    case checking
    /// A pair is nominated and its checks are answered.
    case connected
    /// The nominated pair stopped answering for the failure timeout, or every pair failed without one succeeding.
    case disconnected
}
