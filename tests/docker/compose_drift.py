#!/usr/bin/python3
"""docker-compose.yml against tests/topology/topology.json, the namespace topology's description: the same
networks and subnets, the same services on the same networks with the same interfaces and addresses, the same
environment (names, and values once .env is substituted), routes through the router a service sits behind, the
portal's arguments and configuration, the gateway's name servers and the resources' DNS names. And the compose
file's own rules for each role: no privileged container, every capability dropped but those the role needs,
forwarding where the role forwards, a healthcheck on /healthz at the health address where the program serves one.
Every difference is printed; the exit status is 1 if there is one.

    compose_drift.py [COMPOSE_FILE [TOPOLOGY [ENV_FILE [PORTAL_CONFIG]]]]

The few places where a container must differ from a namespace are listed below with their reason; nothing else may.
"""

import json
import re
import sys

import yaml

# Variables a service of this role gets in the compose file beyond the description, and why.
EXTRA_VARIABLES = {
    # netem is a parameter of a run in the namespace builder (--latency-ms), of the .env file here.
    "router": {"NETWORK_LATENCY_MS"},
}

# Values that differ in the compose file, and why.
DIFFERENT_VALUES = {
    # Native XDP on a veth transmits only when the peer veth has an XDP program; the host's side of a Docker bridge
    # has none, a namespace builder's peer can.
    ("relay", "EBPF_ATTACH_MODE"): "generic",
}

# The capabilities each role may add after dropping all, and why.
CAPABILITIES = {
    # nftables, routes and netem on its own interfaces.
    "router": {"NET_ADMIN"},
    # Its route through portal-router; tests/docker/default-route.sh drops every capability before the portal starts.
    "portal": {"NET_ADMIN"},
    # XDP: CAP_BPF to load the program and its maps, CAP_NET_ADMIN to attach it and for the route.
    "relay": {"NET_ADMIN", "BPF"},
    # The TUN device, addresses, routes, rules, SO_MARK, and the gateway's nftables table.
    "gateway": {"NET_ADMIN"},
    "client": {"NET_ADMIN"},
    # Ports below 1024 (HTTP, DNS).
    "resources": {"NET_BIND_SERVICE"},
    "resolver": {"NET_BIND_SERVICE"},
}

# Sysctls a role must set, since a container cannot write /proc/sys.
FORWARDING = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
SYSCTLS = {"router": FORWARDING, "gateway": FORWARDING}

# The variable that holds the health address of a role whose program serves /healthz.
HEALTH_ADDRESS = {"relay": "HEALTH_CHECK_ADDR", "gateway": "FIREZONE_HEALTH_CHECK_ADDR"}

INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def read_env_file(path):
    values = {}
    with open(path) as file:
        for line in file:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, separator, value = line.partition("=")
            if not separator:
                raise SystemExit(f"{path}: '{line}' is not NAME=VALUE")
            values[name.strip()] = value.strip()
    return values


def interpolate(text, variables):
    """Compose's variable substitution: $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, $NAME."""

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        value = variables.get(name)
        if operator in (":-", ":?") and not value:
            if operator == ":?":
                raise ValueError(f"${{{name}}} is unset or empty: {argument}")
            return argument
        if operator in ("-", "?") and value is None:
            if operator == "?":
                raise ValueError(f"${{{name}}} is unset: {argument}")
            return argument
        return value or ""

    return INTERPOLATION.sub(substitute, text)


def referenced_variable(text):
    match = INTERPOLATION.fullmatch(text)
    return (match.group(1) or match.group(4)) if match else None


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def environment_of(service):
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(entry.partition("=")[::2] for entry in environment)
    return {name: as_text(value) for name, value in environment.items()}


def ipam_subnets(network):
    return {entry["subnet"] for entry in (network.get("ipam") or {}).get("config") or [] if "subnet" in entry}


def check(compose, topology, variables, portal_config):
    problems = []
    report = problems.append

    # Networks and their subnets.
    described_networks = {network["name"]: network for network in topology["networks"]}
    compose_networks = compose.get("networks") or {}
    for name in sorted(set(described_networks) - set(compose_networks)):
        report(f"network {name}: described, missing from the compose file")
    for name in sorted(set(compose_networks) - set(described_networks)):
        report(f"network {name}: in the compose file, not described")
    for name in sorted(set(described_networks) & set(compose_networks)):
        network = described_networks[name]
        described = {subnet for subnet in (network["ipv4"], network["ipv6"]) if subnet}
        actual = ipam_subnets(compose_networks[name] or {})
        if described != actual:
            report(f"network {name}: subnets {sorted(actual)}, described {sorted(described)}")
        wants_ipv6 = described_networks[name]["ipv6"] is not None
        if bool((compose_networks[name] or {}).get("enable_ipv6")) != wants_ipv6:
            report(f"network {name}: enable_ipv6 must be {str(wants_ipv6).lower()}")

    # Services.
    described_services = {service["name"]: service for service in topology["services"]}
    compose_services = compose.get("services") or {}
    for name in sorted(set(described_services) - set(compose_services)):
        report(f"service {name}: described, missing from the compose file")
    for name in sorted(set(compose_services) - set(described_services)):
        report(f"service {name}: in the compose file, not described")

    for name in sorted(set(described_services) & set(compose_services)):
        described, service = described_services[name], compose_services[name]
        role = described["role"]

        # Networks, interfaces and addresses.
        attachments = service.get("networks") or {}
        if isinstance(attachments, list):
            attachments = {network: {} for network in attachments}
        described_attachments = {entry["network"]: entry for entry in described["networks"]}
        if set(attachments) != set(described_attachments):
            report(f"service {name}: networks {sorted(attachments)}, described {sorted(described_attachments)}")
        for network in sorted(set(attachments) & set(described_attachments)):
            attachment, entry = attachments[network] or {}, described_attachments[network]
            keys = (("interface_name", "interface"), ("ipv4_address", "ipv4"), ("ipv6_address", "ipv6"))
            for key, described_key in keys:
                if as_text(attachment.get(key)) != as_text(entry[described_key]):
                    report(
                        f"service {name}: on {network} {key} is '{as_text(attachment.get(key))}', "
                        f"described '{as_text(entry[described_key])}'"
                    )

        # Environment: names, then values with .env substituted.
        environment = environment_of(service)
        described_environment = {key: as_text(value) for key, value in described["environment"].items()}
        extra = set(environment) - set(described_environment) - EXTRA_VARIABLES.get(role, set())
        for variable in sorted(set(described_environment) - set(environment)):
            report(f"service {name}: environment lacks {variable}")
        for variable in sorted(extra):
            report(f"service {name}: environment has {variable}, which the description does not")
        for variable in sorted(set(described_environment) & set(environment)):
            try:
                value = interpolate(environment[variable], variables)
            except ValueError as error:
                report(f"service {name}: {variable}: {error}")
                continue
            expected = DIFFERENT_VALUES.get((role, variable), described_environment[variable])
            if value != expected:
                report(f"service {name}: {variable} is '{value}', expected '{expected}'")

        # A router's NAT kind follows the variable the description names (CLIENT_MASQUERADE, ...).
        if role == "router":
            nat_variable = described["router"]["nat_variable"]
            referenced = referenced_variable(environment.get("MASQUERADE_TYPE", ""))
            if nat_variable != referenced:
                source = referenced or "no variable"
                report(f"service {name}: MASQUERADE_TYPE comes from {source}, described {nat_variable}")

        # Behind a router: the default route goes through the router's address on the service's network.
        command = [as_text(argument) for argument in service.get("command") or []]
        behind = described.get("behind")
        if behind in described_services and described_services[behind]["role"] == "router":
            router = described_services[behind]
            inside = {entry["network"]: entry for entry in router["networks"]}[router["router"]["inside"]]
            routes = {"--via": inside["ipv4"], "--via6": inside["ipv6"]}
            own = described_attachments.get(router["router"]["inside"], {})
            for option, address in routes.items():
                wanted = address if address and own.get("ipv4" if option == "--via" else "ipv6") else None
                given = command[command.index(option) + 1] if option in command else None
                if given != wanted:
                    report(f"service {name}: default route {option} {given}, expected {wanted} ({behind})")

        # The portal's arguments, and its configuration.
        arguments = described.get("arguments")
        if arguments is not None:
            program = command[command.index("--") + 1 :] if "--" in command else command
            given = [argument for argument in program[1:] if argument]
            # The configuration's path is the container's; the description leaves it out.
            without_config = [
                argument
                for index, argument in enumerate(given)
                if argument != "--config" and (index == 0 or given[index - 1] != "--config")
            ]
            if without_config != arguments:
                report(f"service {name}: arguments {without_config}, described {arguments}")

        # Resource limits: the described ones, as soft and hard limit.
        limits = service.get("ulimits") or {}
        for limit, value in sorted((described.get("ulimits") or {}).items()):
            given = limits.get(limit)
            if isinstance(given, dict):
                given = given.get("soft") if given.get("soft") == given.get("hard") else given
            if given != value:
                report(f"service {name}: ulimit {limit} is {given}, described {value}")

        # Name servers.
        nameservers = described.get("nameservers")
        if nameservers is not None and [as_text(server) for server in service.get("dns") or []] != nameservers:
            report(f"service {name}: dns {service.get('dns')}, described {nameservers}")

    # The resources' DNS server answers each described name with its service's address.
    dns_server = next(
        (
            compose_services[service["name"]]
            for service in topology["services"]
            if service["name"] in compose_services
            and any(serve.get("kind") == "dns" for serve in service.get("serves", []))
        ),
        None,
    )
    if dns_server is not None:
        answers = {as_text(argument) for argument in dns_server.get("command") or []}
        for service in topology["services"]:
            for dns_name in service.get("dns_names", []):
                domain = dns_name[2:] if dns_name.startswith("*.") else dns_name
                address = service["networks"][0]["ipv4"]
                if f"--address=/{domain}/{address}" not in answers:
                    report(f"DNS server: no --address=/{domain}/{address} for {dns_name} ({service['name']})")

    # A resolver's records are its dnsmasq arguments.
    for service in topology["services"]:
        records = service.get("records")
        if records is None or service["name"] not in compose_services:
            continue
        given = {as_text(argument) for argument in compose_services[service["name"]].get("command") or []}
        wanted = [f"--address=/{record['name']}/{record['address']}" for record in records.get("a", [])]
        wanted += [
            f"--txt-record={record['name']}," + ",".join(f'"{text}"' for text in record["strings"])
            for record in records.get("txt", [])
        ]
        for argument in wanted:
            if argument not in given:
                report(f"service {service['name']}: no {argument[:60]}... for a described record")

    for name in sorted(set(described_services) & set(compose_services)):
        problems.extend(role_rules(name, described_services[name]["role"], compose_services[name]))

    if portal_config != topology["portal_config"]:
        report("portal configuration: differs from the description's portal_config")
    return problems


def role_rules(name, role, service):
    """The compose file's own rules for a service of `role`."""
    problems = []
    if service.get("privileged"):
        problems.append(f"service {name}: privileged; add the capabilities it needs instead")
    dropped = {capability.upper() for capability in service.get("cap_drop") or []}
    if "ALL" not in dropped:
        problems.append(f"service {name}: cap_drop lacks ALL")
    added = {capability.upper().removeprefix("CAP_") for capability in service.get("cap_add") or []}
    for capability in sorted(added - CAPABILITIES.get(role, set())):
        problems.append(f"service {name}: cap_add {capability}, which a {role} does not need")
    sysctls = service.get("sysctls") or {}
    if isinstance(sysctls, list):
        sysctls = dict(entry.partition("=")[::2] for entry in sysctls)
    for sysctl, value in SYSCTLS.get(role, {}).items():
        if as_text(sysctls.get(sysctl)) != value:
            problems.append(f"service {name}: sysctl {sysctl} is '{as_text(sysctls.get(sysctl))}', must be {value}")
    variable = HEALTH_ADDRESS.get(role)
    if variable:
        port = environment_of(service).get(variable, "").rpartition(":")[2]
        test = [as_text(argument) for argument in (service.get("healthcheck") or {}).get("test") or []]
        if test[-3:] != ["http-healthy", port, "/healthz"]:
            problems.append(f"service {name}: healthcheck {test}, expected http-healthy {port} /healthz")
    return problems


def main(arguments):
    compose_path, topology_path, env_path, portal_path = (arguments + [None] * 4)[:4]
    compose_path = compose_path or "docker-compose.yml"
    topology_path = topology_path or "tests/topology/topology.json"
    env_path = env_path or ".env"
    portal_path = portal_path or "tests/docker/portal.json"
    with open(compose_path) as file:
        compose = yaml.safe_load(file)
    with open(topology_path) as file:
        topology = json.load(file)
    with open(portal_path) as file:
        portal_config = json.load(file)
    problems = check(compose, topology, read_env_file(env_path), portal_config)
    for problem in problems:
        print(f"compose drift: {problem}")
    if problems:
        print(f"compose drift: {compose_path} differs from {topology_path} in {len(problems)} places", file=sys.stderr)
        return 1
    print(f"compose drift: {compose_path} matches {topology_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
