import Glibc

/// A system call of the device's IO failed.
public struct DeviceIOError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public var description: String {
        "\(self.operation): \(String(cString: strerror(self.errno))) (errno \(self.errno))"
    }
}
