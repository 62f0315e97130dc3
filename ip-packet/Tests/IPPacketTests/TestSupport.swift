import IPPacket

func ip(_ text: String) -> IPAddress {
    IPAddress(text)!
}
