import Foundation
import PackagePlugin

/// Compiles the relay's XDP program (`ebpf/xdp`) with clang `-target bpf` and embeds the object in the target
/// that loads it, as a generated Swift source file.
///
/// Why embedded rather than installed next to the binary: firezone-relay then cannot run with a program from
/// another build, needs no search path, and a fresh clone's `swift build` produces everything. The work is in
/// `ebpf/xdp/build.sh`, so that the same command also runs by hand.
@main
struct RelayXDPCompiler: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let sources = package.appending(path: "ebpf/xdp")
        let shared = package.appending(path: "ebpf/Sources/CRelayXDP")
        let script = sources.appending(path: "build.sh")
        let inputs = try FileManager.default.contentsOfDirectory(at: sources, includingPropertiesForKeys: nil)
            .filter { ["c", "h", "sh"].contains($0.pathExtension) }
            .sorted { $0.path < $1.path }
        let object = context.pluginWorkDirectoryURL.appending(path: "relay_xdp.bpf.o")
        let generated = context.pluginWorkDirectoryURL.appending(path: "RelayXDPObjectFile.swift")
        return [
            .buildCommand(
                displayName: "Compiling the relay's XDP program",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, sources.path, shared.path, object.path, generated.path],
                inputFiles: inputs + [shared.appending(path: "relay_xdp.h")],
                outputFiles: [generated]
            )
        ]
    }
}
