#!/usr/bin/python3
"""The runtime images of tests/docker/Dockerfile install every Debian package whose libraries their program links.

    runtime_packages.py BIN_DIR [DOCKERFILE]
    runtime_packages.py --installs STAGE [DOCKERFILE]


For each image stage and its program (relay: firezone-relay, ...), `ldd` of BIN_DIR/<program> names the shared
libraries, `dpkg -S` the package of each, and the stage's RUNTIME_PACKAGES (its own and those of the stages it is
built FROM) must hold them all. Libraries of the Swift toolchain are left out when the toolchain has their static
archive, since the images' programs are built with --static-swift-stdlib: a binary built that way links exactly the
other libraries (`ldd` of the debug and the static release binaries list the same ones). A toolchain library without
a static archive is an error, as the image would lack it. Prints what it found; exits 1 on a missing package.
With --installs it prints every package a stage's image installs (each *_PACKAGES argument of the stage and of the
stages it is built FROM), for tests/docker/runtime-smoke.sh.
"""

import os
import re
import shutil
import subprocess
import sys

PROGRAMS = {
    "relay": "firezone-relay",
    "gateway": "firezone-gateway",
    "headless-client": "firezone-headless-client",
    "portal": "firezone-portal",
}

FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
RUNTIME_PACKAGES = re.compile(r'^ARG\s+RUNTIME_PACKAGES="([^"]*)"\s*$')
ANY_PACKAGES = re.compile(r'^ARG\s+[A-Z_]*PACKAGES="([^"]*)"\s*$')


def stages(dockerfile, argument=RUNTIME_PACKAGES):
    """Each stage's parent (the image or stage it is FROM) and the packages of `argument`."""
    parsed, current = {}, None
    with open(dockerfile) as file:
        lines = file.read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        match = FROM.match(line)
        if match:
            current = match.group(2) or f"stage-{len(parsed)}"
            parsed[current] = {"parent": match.group(1), "packages": set()}
            continue
        match = argument.match(line)
        if match and current is not None:
            parsed[current]["packages"] |= set(match.group(1).split())
    return parsed


def packages_of_stage(parsed, stage):
    packages = set()
    while stage in parsed:
        packages |= parsed[stage]["packages"]
        stage = parsed[stage]["parent"]
    return packages


def toolchain_directory():
    swift = shutil.which("swift")
    return os.path.dirname(os.path.dirname(os.path.realpath(swift))) if swift else None


def linked_libraries(binary):
    output = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libraries = []
    for line in output.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            path = rest.split("(")[0].strip()
            if path == "not found":
                raise SystemExit(f"runtime packages: {binary}: {name.strip()} not found")
            if path:
                libraries.append(path)
        elif line.startswith("/"):
            libraries.append(line.split("(")[0].strip())
    return libraries


def package_owning(path):
    """dpkg knows a library under the path its package installed it; with merged /usr that is /lib or /usr/lib."""
    candidates = [path, os.path.realpath(path)]
    for candidate in list(candidates):
        if candidate.startswith("/usr/lib/"):
            candidates.append(candidate[len("/usr") :])
        elif candidate.startswith("/lib/") or candidate.startswith("/lib64/"):
            candidates.append("/usr" + candidate)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0].strip()
    return None


def main(arguments):
    if not arguments:
        print(__doc__, file=sys.stderr)
        return 2
    if arguments[0] == "--installs":
        parsed = stages(arguments[2] if len(arguments) > 2 else "tests/docker/Dockerfile", ANY_PACKAGES)
        if len(arguments) < 2 or arguments[1] not in parsed:
            print(f"runtime packages: no stage '{arguments[1] if len(arguments) > 1 else ''}'", file=sys.stderr)
            return 2
        print(" ".join(sorted(packages_of_stage(parsed, arguments[1]))))
        return 0
    binaries, dockerfile = arguments[0], arguments[1] if len(arguments) > 1 else "tests/docker/Dockerfile"
    parsed = stages(dockerfile)
    toolchain = toolchain_directory()
    failures = 0
    for stage, program in PROGRAMS.items():
        if stage not in parsed:
            print(f"runtime packages: {dockerfile} has no stage '{stage}' for {program}")
            failures += 1
            continue
        declared = packages_of_stage(parsed, stage)
        needed = {}
        for library in linked_libraries(os.path.join(binaries, program)):
            if toolchain and library.startswith(toolchain + "/"):
                name = os.path.basename(library).split(".so")[0] + ".a"
                archive = os.path.join(toolchain, "lib", "swift_static", "linux", name)
                if not os.path.exists(archive):
                    print(f"runtime packages: {program} links {library}, which has no static archive ({archive})")
                    failures += 1
                continue
            package = package_owning(library)
            if package is None:
                print(f"runtime packages: {program} links {library}, which no Debian package installed")
                failures += 1
                continue
            needed.setdefault(package, []).append(os.path.basename(library))
        missing = sorted(set(needed) - declared)
        for package in missing:
            print(f"runtime packages: stage '{stage}' lacks {package} ({', '.join(needed[package])} for {program})")
        failures += len(missing)
        if not missing:
            print(f"runtime packages: stage '{stage}' installs all that {program} links: {' '.join(sorted(needed))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
