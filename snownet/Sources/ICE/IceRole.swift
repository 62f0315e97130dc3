/// Which side of the session nominates the pair both use (RFC 8445 §6.1.1). Firezone's client is controlling and
/// its gateway controlled; a role conflict (§7.3.1.1) swaps them by tie-breaker.
public enum IceRole: Hashable, Sendable {
    case controlling
    case controlled
}
