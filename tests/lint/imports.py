#!/usr/bin/env python3
"""The import rules of docs/architecture.md, enforced from Package.swift and the sources' `import` lines.

Two checks:
1. Every module a source file imports is a dependency its target declares in Package.swift (or a toolchain
   module), so the dependency lists tell the truth about who uses whom.
2. Every library target of ours declares only the dependencies its layer allows (`ALLOWED` below, the table of
   docs/architecture.md). A target missing from the table fails the lint: a new target takes its place in the
   architecture on purpose, not by accident.

Executables, test targets and the test-support targets under tests/ may import anything they declare.
Usage: tests/lint/imports.py [--package-json FILE]   (default: runs `swift package dump-package`)
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Modules of the toolchain, available without a declared dependency.
TOOLCHAIN = {"Glibc", "Darwin", "Foundation", "FoundationEssentials", "Dispatch", "Synchronization", "Testing",
             "XCTest", "_Concurrency", "Observation", "RegexBuilder", "PackagePlugin"}

# Products of packages that a sans-IO core may use: value types and collections, no syscalls.
CORE_PACKAGES = {"NIOCore", "DequeModule", "HeapModule", "OrderedCollections", "Collections", "Logging"}

PLATFORM = {"FirezoneTime", "FirezoneCrypto", "COpenSSL", "CSodium"}
LINUX_IO = {"CLinuxIO", "LinuxIO"}

# Our library targets and the targets of ours each may depend on; `"packages"` lists the outside products.
# The comment says why where the rule is not obvious from docs/architecture.md.
ALLOWED = {
    # platform/: the bottom layer. LinuxIO speaks IPPacket's address types, which depend on nothing of ours.
    "FirezoneTime": {"ours": set(), "packages": set()},
    "FirezoneCrypto": {"ours": {"COpenSSL", "CSodium"}, "packages": set()},
    "COpenSSL": {"ours": set(), "packages": set()},
    "CSodium": {"ours": set(), "packages": set()},
    "CLinuxIO": {"ours": set(), "packages": set()},
    "LinuxIO": {"ours": {"CLinuxIO", "IPPacket", "FirezoneTime"}, "packages": CORE_PACKAGES},
    "FirezoneOptions": {"ours": PLATFORM | {"IPPacket"}, "packages": {"Logging", "ArgumentParser"}},
    # An executable's entry point: its exit, its logger; nothing of a component.
    "FirezoneCommand": {"ours": {"FirezoneOptions"}, "packages": {"Logging", "ArgumentParser"}},
    # The health and metrics endpoints every executable serves: NIO's HTTP server, nothing of a component.
    "FirezoneHealth": {"ours": {"IPPacket"}, "packages": CORE_PACKAGES | {"NIOPosix", "NIOHTTP1", "ServiceLifecycle"}},
    # ip-packet/: depends on no other target of ours.
    "IPPacket": {"ours": set(), "packages": CORE_PACKAGES},
    # snownet/: knows nothing of connlib, the portal or the relay's server.
    "STUN": {"ours": {"IPPacket", "FirezoneCrypto"}, "packages": CORE_PACKAGES},
    "WireGuard": {"ours": {"IPPacket"} | PLATFORM, "packages": CORE_PACKAGES},
    # ICE and the TURN client do not know each other: the Node turns the TURN client's addresses into ICE candidates.
    "ICE": {"ours": {"STUN", "IPPacket"} | PLATFORM, "packages": CORE_PACKAGES},
    "TURNClient": {"ours": {"STUN", "IPPacket"} | PLATFORM, "packages": CORE_PACKAGES},
    "Snownet": {"ours": {"ICE", "TURNClient", "WireGuard", "STUN", "IPPacket"} | PLATFORM, "packages": CORE_PACKAGES},
    # relay/: knows nothing of snownet beyond the STUN codec.
    "RelayCore": {"ours": {"STUN", "IPPacket"} | PLATFORM, "packages": CORE_PACKAGES},
    "Relay": {
        "ours": {"RelayCore", "RelayXDP", "STUN", "IPPacket"} | PLATFORM | LINUX_IO,
        "packages": CORE_PACKAGES | {"NIOPosix", "NIOHTTP1", "CoreMetrics", "Metrics", "ServiceLifecycle"},
    },
    # ebpf/: the XDP program's loader; it mirrors the relay core's bindings into the kernel's maps.
    "CLibBPF": {"ours": set(), "packages": set()},
    "CRelayXDP": {"ours": set(), "packages": set()},
    "RelayXDP": {"ours": {"CLibBPF", "CRelayXDP", "RelayCore", "STUN", "IPPacket"} | LINUX_IO, "packages": CORE_PACKAGES},
    # phoenix-channel/: the portal's messages and session; the shell is the only part that touches NIO's IO.
    "PortalMessages": {"ours": {"IPPacket", "FirezoneCrypto"}, "packages": set()},
    "PhoenixCore": {"ours": {"PortalMessages"} | PLATFORM, "packages": CORE_PACKAGES},
    "PhoenixChannel": {
        "ours": {"PhoenixCore", "PortalMessages"} | PLATFORM | LINUX_IO,
        "packages": CORE_PACKAGES | {"NIOPosix", "NIOHTTP1", "NIOWebSocket", "NIOSSL", "ServiceLifecycle"},
    },
    # connlib/: the tunnel's state machines and their IO shell.
    "ConnlibCore": {"ours": {"Snownet", "ICE", "TURNClient", "STUN", "WireGuard", "IPPacket", "PortalMessages"} | PLATFORM,
                    "packages": CORE_PACKAGES},
    "Connlib": {"ours": {"ConnlibCore", "Snownet", "STUN", "WireGuard", "IPPacket", "PortalMessages", "PhoenixChannel",
                         "PhoenixCore", "FirezoneOptions", "FirezoneCommand"} | PLATFORM | LINUX_IO,
                "packages": CORE_PACKAGES | {"NIOPosix", "CoreMetrics", "Metrics", "ServiceLifecycle"}},
    # headless-client/: the client's shell on connlib's, plus what only a desktop or server client needs (its
    # options, the status file, resolving the stub's queries).
    "HeadlessClient": {"ours": {"Connlib", "ConnlibCore", "Snownet", "WireGuard", "IPPacket", "PortalMessages", "PhoenixChannel",
                                "PhoenixCore", "FirezoneOptions"} | PLATFORM | LINUX_IO,
                       "packages": CORE_PACKAGES | {"NIOPosix", "CoreMetrics", "Metrics", "ServiceLifecycle"}},
}

IMPORT = re.compile(r"^\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+|(?:public|package|internal)\s+)*"
                    r"import\s+(?:(?:struct|class|enum|func|protocol|typealias|var|let)\s+)?([A-Za-z_][A-Za-z0-9_]*)",
                    re.M)


def load_package(argv):
    if len(argv) == 3 and argv[1] == "--package-json":
        return json.loads(pathlib.Path(argv[2]).read_text())
    output = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def declared(target):
    ours, products = set(), set()
    for dependency in target.get("dependencies", []):
        if "byName" in dependency:
            ours.add(dependency["byName"][0])
        elif "target" in dependency:
            ours.add(dependency["target"][0])
        elif "product" in dependency:
            products.add(dependency["product"][0])
    return ours, products


def main(argv):
    package = load_package(argv)
    targets = {target["name"]: target for target in package["targets"]}
    failures = []

    for name in sorted(targets):
        target = targets[name]
        ours, products = declared(target)
        kind = target["type"]
        path = ROOT / (target.get("path") or "")
        is_test_support = (target.get("path") or "").startswith("tests/")

        # Check 1: imports are declared.
        available = ours | products | TOOLCHAIN | {name}
        for source in sorted(path.rglob("*.swift")):
            for module in IMPORT.findall(source.read_text()):
                if module not in available:
                    failures.append(f"{source.relative_to(ROOT)}: imports {module}, which target {name} does not "
                                    f"declare in Package.swift")

        # Check 2: library targets follow the layer table.
        if kind in ("test", "executable", "plugin") or is_test_support:
            continue
        rule = ALLOWED.get(name)
        if rule is None:
            failures.append(f"target {name} ({target.get('path')}) has no row in tests/lint/imports.py's ALLOWED "
                            f"table: give it a place in docs/architecture.md and the table")
            continue
        for dependency in sorted(ours - rule["ours"]):
            failures.append(f"target {name} may not depend on {dependency} (docs/architecture.md)")
        for product in sorted(products - rule["packages"]):
            failures.append(f"target {name} may not depend on the product {product} (docs/architecture.md)")

    for failure in failures:
        print("imports:", failure)
    if failures:
        return 1
    print(f"imports: {len(targets)} targets follow docs/architecture.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
