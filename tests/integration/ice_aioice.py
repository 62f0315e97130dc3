#!/usr/bin/python3
"""Our ICE agent (the `ice-interop` executable) against aioice, an independent RFC 5245/8445 agent, on 127.0.0.1.

Two rounds from fresh processes, one per role of ours. In each, aioice's `connect()` must return (its checks
succeeded and a pair was nominated on its side) and ice-interop must exit 0 (a pair was nominated on ours and stayed
connected while it kept checking it, so aioice answered those checks too): checks complete both ways.

aioice gathers host candidates from every interface but loopback; the test replaces its address lookup with
127.0.0.1 so that it needs no network but lo.

Usage: ice_aioice.py PATH-TO-ice-interop
"""

import asyncio
import sys

import aioice
import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def read_signalling(process):
    values = {}
    while len(values) < 3:
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        if not line:
            raise RuntimeError("ice-interop exited before signalling")
        key, _, value = line.partition(" ")
        values[key] = value
    return values


async def run_round(binary, our_role):
    connection = aioice.Connection(ice_controlling=our_role == "controlled", use_ipv6=False)
    await connection.gather_candidates()
    candidates = ["candidate:" + candidate.to_sdp() for candidate in connection.local_candidates]
    process = await asyncio.create_subprocess_exec(
        binary, our_role, connection.local_username, connection.local_password, *candidates,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        signalling = await read_signalling(process)
        connection.remote_username = signalling["ufrag"]
        connection.remote_password = signalling["password"]
        ours = signalling["candidate"]
        await connection.add_remote_candidate(aioice.Candidate.from_sdp(ours.removeprefix("candidate:")))
        await connection.add_remote_candidate(None)
        await asyncio.wait_for(connection.connect(), 20)
        theirs_nominated = connection._nominated.get(1)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 40)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await connection.close()
    output = stdout.decode()
    print(f"--- ours {our_role}, aioice {'controlling' if our_role == 'controlled' else 'controlled'}")
    print(f"aioice nominated: {theirs_nominated}")
    print(output, end="")
    if process.returncode != 0 or "nominated" not in output or "ok" not in output.splitlines():
        print(stderr.decode()[-4000:], file=sys.stderr)
        raise RuntimeError(f"ice-interop ({our_role}) exited {process.returncode}")


async def main():
    binary = sys.argv[1]
    for role in ["controlled", "controlling"]:
        await run_round(binary, role)
    print("ice-aioice: checks completed both ways in both roles")


if __name__ == "__main__":
    asyncio.run(main())
