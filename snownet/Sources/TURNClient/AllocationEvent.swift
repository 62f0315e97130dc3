import IPPacket

/// A change of an allocation's addresses, in the order it happened.
///
/// As at Firezone's seed era (`rust/connlib/snownet/src/allocation.rs`, `update_candidate`), a host or
/// server-reflexive address that changes yields `newAddress` for the new one, then `invalidatedAddress` for the old
/// one; relayed addresses are invalidated when the allocation is lost, expires or is replaced.
public enum AllocationEvent: Hashable, Sendable {
    case newAddress(AllocationAddressKind, IPSocketAddress)
    case invalidatedAddress(AllocationAddressKind, IPSocketAddress)
}
