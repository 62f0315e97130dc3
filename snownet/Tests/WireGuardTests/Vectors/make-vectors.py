#!/usr/bin/env python3
"""Known-answer vectors for the WireGuard tests, from a second, independent implementation.

Written from the WireGuard paper (§5.4) on top of primitives we did not write: X25519 and ChaCha20-Poly1305 from
the `cryptography` package (OpenSSL underneath, but its own bindings and nonce handling), BLAKE2s, HMAC and keyed
BLAKE2s from Python's hashlib/hmac (their own BLAKE2 code). Fixed keys, ephemerals, indices and timestamp go in;
the initiation, the response, both sides' transport keys and one transport packet come out, printed as the Swift
literals in KnownAnswerTests.swift. Run: python3 make-vectors.py
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization


def raw_public(private):
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dh(private, public):
    return private.exchange(X25519PublicKey.from_public_bytes(public))


def HASH(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def MAC(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def AEAD(key, counter, plaintext, aad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plaintext, aad)


def key(seed):
    return X25519PrivateKey.from_private_bytes(bytes((seed + i) % 256 for i in range(32)))


initiator_static, responder_static = key(0x10), key(0x40)
initiator_ephemeral, responder_ephemeral = key(0x70), key(0xA0)
psk = bytes(range(0xD0, 0xF0))
sender_index, responder_index = 0x00ABCD01, 0x00123405
timestamp = struct.pack(">QI", 0x400000000000000A + 1_750_000_000, 0x12000000)
payload = bytes.fromhex("450000210000400040110000c0a80001c0a80002") + b"hello wireguard!!"[:13]

S_i, S_r = raw_public(initiator_static), raw_public(responder_static)
construction = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
identifier = b"WireGuard v1 zx2c4 Jason@zx2c4.com"

# Initiation (§5.4.2)
C = HASH(construction)
H = HASH(HASH(C, identifier), S_r)
E_i = raw_public(initiator_ephemeral)
C = KDF(1, C, E_i)[0]
H = HASH(H, E_i)
C, k = KDF(2, C, dh(initiator_ephemeral, S_r))
enc_static = AEAD(k, 0, S_i, H)
H = HASH(H, enc_static)
C, k = KDF(2, C, dh(initiator_static, S_r))
enc_time = AEAD(k, 0, timestamp, H)
H = HASH(H, enc_time)
initiation = struct.pack("<I", 1) + struct.pack("<I", sender_index) + E_i + enc_static + enc_time
initiation += MAC(HASH(b"mac1----", S_r), initiation)
initiation += b"\0" * 16
assert len(initiation) == 148

# Response (§5.4.3)
E_r = raw_public(responder_ephemeral)
C = KDF(1, C, E_r)[0]
H = HASH(H, E_r)
C = KDF(1, C, dh(responder_ephemeral, E_i))[0]
C = KDF(1, C, dh(responder_ephemeral, S_i))[0]
C, tau, k = KDF(3, C, psk)
H = HASH(H, tau)
enc_empty = AEAD(k, 0, b"", H)
response = struct.pack("<I", 2) + struct.pack("<I", responder_index) + struct.pack("<I", sender_index) + E_r + enc_empty
response += MAC(HASH(b"mac1----", S_i), response)
response += b"\0" * 16
assert len(response) == 92
initiator_send, initiator_receive = KDF(2, C, b"")

# A transport packet from the initiator, counter 7, padded to 16 (§5.4.6)
padded = payload + b"\0" * (-len(payload) % 16)
data = struct.pack("<I", 4) + struct.pack("<I", responder_index) + struct.pack("<Q", 7) + AEAD(initiator_send, 7, padded, b"")

# Primitive vectors
blake = HASH(b"abc")
hmac_vector = HMAC(bytes(range(32)), b"WireGuard")
mac_vector = MAC(bytes(range(32)), b"WireGuard")


def swift(name, value):
    print(f'    static let {name} = "{value.hex()}"')


for name, value in [
    ("initiatorStaticSecret", initiator_static.private_bytes_raw()),
    ("responderStaticSecret", responder_static.private_bytes_raw()),
    ("initiatorEphemeralSecret", initiator_ephemeral.private_bytes_raw()),
    ("responderEphemeralSecret", responder_ephemeral.private_bytes_raw()),
    ("initiatorPublicKey", S_i),
    ("responderPublicKey", S_r),
    ("presharedKey", psk),
    ("timestamp", timestamp),
    ("initiation", initiation),
    ("response", response),
    ("initiatorSendingKey", initiator_send),
    ("initiatorReceivingKey", initiator_receive),
    ("payload", payload),
    ("transportPacket", data),
    ("blake2sABC", blake),
    ("hmacBLAKE2s", hmac_vector),
    ("keyedBLAKE2s128", mac_vector),
]:
    swift(name, value)
print(f"    static let senderIndex: UInt32 = 0x{sender_index:08X}")
print(f"    static let responderIndex: UInt32 = 0x{responder_index:08X}")
