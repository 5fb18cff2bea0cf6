#!/usr/bin/env python3
# make_cctv_vectors.py: writes the C2SP CCTV age test vectors that
# test/unit/crypto/age_test.cpp replays (the files next to this script).
#
# The vectors are github.com/C2SP/CCTV, age/testdata (0BSD/CC0); the same files
# ship as testdata/testkit in FiloSottile/age and as tests/testdata/testkit in
# the Rust age crate. Each is a few "key: value" lines (expect, payload hash,
# identity or passphrase, comment), an empty line, then an age file whose
# header is text and whose payload is binary.
#
# The copies that could be read when this was written had their binary part
# mangled by a text conversion, while the header text was intact. Every file
# here is therefore rebuilt: the header is the published text, copied below
# verbatim, and the payload is recomputed the way the vectors' generator
# (age/internal/testkit/testkit.go) made it. The generator's randomness is a
# ChaCha20 keystream under a fixed key, so that is exact: each payload nonce is
# a known slice of that keystream (located by matching the first bytes that
# survived in the mangled copies), and each chunk is ChaCha20-Poly1305 under
# HKDF(file key, nonce, "payload"). The success vectors check the result: they
# only decrypt to their published payload hash if the rebuilt payload is
# exactly the original.
#
# Three STREAM vectors with 64 KiB chunks (stream_last_chunk_empty,
# stream_trailing_garbage_short, stream_two_final_chunks) were binary files
# whose header could not be read at all; they are regenerated whole with the
# testkit procedure. To show that this reimplementation of the testkit is
# faithful, the script first regenerates the headers of "x25519" and
# "hmac_bad"'s stanza from scratch and asserts they equal the published text
# byte for byte (that covers the keystream, X25519, HKDF, ChaCha20-Poly1305,
# the base64 wrapping and the HMAC).
#
# Needs python3-cryptography. Run it from anywhere; it rewrites the vector
# files in its own directory.
import base64
import hashlib
import hmac
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OUT = os.path.dirname(os.path.abspath(__file__))

KEYSTREAM = Cipher(algorithms.ChaCha20(b"TEST RANDOMNESS TEST RANDOMNESS!", b"\0" * 16),
                   mode=None).encryptor().update(b"\0" * 4096)

FILE_KEY = b"YELLOW SUBMARINE"
LARGE_FILE_KEY = bytes.fromhex("7aa5bdac0e6afeed3dd0a7eccb42af44")
LARGE_NONCE = bytes.fromhex("c82f71eb82029b77136399e485e879f4")

ID_RECIPIENT_AS_KEY = "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6"
ID_TEST = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
ID_SCRYPT_AND_X25519 = "AGE-SECRET-KEY-143WN7DCXU4G8R5AXQSSYD9AEPYDNT3HXSLWSPK36CDU6E8M59SSSAGZ3KG"

SHA_AGE = hashlib.sha256(b"age").hexdigest()
SHA_EMPTY = hashlib.sha256(b"").hexdigest()
SHA_64K_ZEROS = hashlib.sha256(b"\0" * 65536).hexdigest()


def bech32_decode_bytes(text):
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    text = text.lower()
    data = [charset.index(c) for c in text[text.rindex("1") + 1:]][:-6]
    acc, bits, out = 0, 0, bytearray()
    for value in data:
        acc = (acc << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xff)
    return bytes(out)


def x25519(scalar, point):
    try:
        return X25519PrivateKey.from_private_bytes(scalar).exchange(
            X25519PublicKey.from_public_bytes(point))
    except ValueError:  # low-order point: the testkit returns zeros
        return b"\0" * 32


def basepoint_mult(scalar):
    from cryptography.hazmat.primitives import serialization
    return X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(ikm)


def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def body_lines(data):
    text, encoded = "", b64(data)
    while len(encoded) >= 64:
        text, encoded = text + encoded[:64] + "\n", encoded[64:]
    return text + encoded + "\n"


def x25519_stanza(share_secret, identity):
    share = basepoint_mult(share_secret)
    recipient = basepoint_mult(identity)
    key = hkdf(x25519(identity, share), share + recipient, b"age-encryption.org/v1/X25519")
    body = ChaCha20Poly1305(key).encrypt(b"\0" * 12, FILE_KEY_FOR_STANZA[0], None)
    return "-> X25519 " + b64(share) + "\n" + body_lines(body)


FILE_KEY_FOR_STANZA = [FILE_KEY]


def header_mac(file_key, header_text):
    key = hkdf(file_key, b"", b"header")
    return "--- " + b64(hmac.new(key, header_text.encode() + b"---", hashlib.sha256).digest())


def payload(file_key, nonce, chunks):
    """chunks: list of (plaintext, last); returns nonce || sealed chunks."""
    key = hkdf(file_key, nonce, b"payload")
    out = bytearray(nonce)
    for counter, (plaintext, last) in enumerate(chunks):
        chunk_nonce = counter.to_bytes(11, "big") + (b"\1" if last else b"\0")
        out += ChaCha20Poly1305(key).encrypt(chunk_nonce, plaintext, None)
    return bytes(out)


def ks(start, size):
    return KEYSTREAM[start:start + size]


# --- self-check of the testkit reimplementation against published headers ---

X25519_HEADER = (
    "age-encryption.org/v1\n"
    "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
    "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U\n"
    "--- Vn+54jqiiUCE+WZcEVY3f1sqHjlu/z1LCQ/T7Xm7qI0\n")


def self_check():
    recipient_as_key = bech32_decode_bytes(ID_RECIPIENT_AS_KEY)
    test_identity = bech32_decode_bytes(ID_TEST)
    # The older vectors used the test recipient's bytes as the identity.
    assert recipient_as_key == basepoint_mult(test_identity)
    header = "age-encryption.org/v1\n" + x25519_stanza(ks(0, 32), recipient_as_key)
    header += header_mac(FILE_KEY, header) + "\n"
    assert header == X25519_HEADER, header
    stanza = x25519_stanza(ks(0, 32), test_identity)
    assert stanza == ("-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n"
                      "hjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE\n"), stanza
    # The scrypt vectors' salt is the first 16 keystream bytes.
    assert b64(ks(0, 16)) == "rF0/NwblUHHTpgQgRpe5CQ"


# --- the vectors -------------------------------------------------------------

AGE_FINAL = [(b"age", True)]
VECTORS = []


def vector(name, meta, header, tail):
    VECTORS.append((name, meta, header.encode(), tail))


def stanza_x25519_tei(body):
    return "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc\n" + body + "\n"


TEI_BODY_RECIPIENT = "EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw7U"
TEI_BODY_TEST = "hjabGXwSLQ9c3S6Lw2i+S2Tu2fiwQHHslbBN6B41FLE"
SCRYPT_STANZA = "-> scrypt rF0/NwblUHHTpgQgRpe5CQ 10\ngUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n"
V1 = "age-encryption.org/v1\n"


def build():
    small = payload(FILE_KEY, ks(32, 16), AGE_FINAL)  # one X25519 stanza before the nonce
    small_after_scrypt = payload(FILE_KEY, ks(16, 16), AGE_FINAL)
    small_at_start = payload(FILE_KEY, ks(0, 16), AGE_FINAL)

    def meta(expect, extra, payload_hash=None, comment=None):
        lines = ["expect: " + expect]
        if payload_hash:
            lines.append("payload: " + payload_hash)
        lines.append("file key: " + FILE_KEY.hex())
        lines += extra
        if comment:
            lines.append("comment: " + comment)
        return lines

    rid = ["identity: " + ID_RECIPIENT_AS_KEY]
    tid = ["identity: " + ID_TEST]
    pw = ["passphrase: password"]

    # success
    vector("x25519", meta("success", rid, SHA_AGE), X25519_HEADER, small)
    vector("x25519_grease", meta("success", rid, SHA_AGE),
           V1 + "-> grease\n\n" + stanza_x25519_tei(TEI_BODY_RECIPIENT) + "-> grease\n\n"
           "--- 7NLrfbRUZt6qK0pdtARUf59dHwo12ReldjJKjMlbE3I\n", small)
    vector("stanza_valid_characters", meta("success", rid, SHA_AGE),
           V1 + "-> !\"#$%&' ()*+,-./ 01234567 89:;<=>? @ABCDEFG HIJKLMNO\n\n"
           "-> PQRSTUVW XYZ[\\]^_ `abcdefg hijklmno pqrstuvw xyz{|}~\n\n" +
           stanza_x25519_tei(TEI_BODY_RECIPIENT) +
           "--- x538z9xJq9XEK1aTTTv80aWDVvVdROvaXn2tpqXPC8g\n", small)
    vector("x25519_multiple_recipients", meta("success", rid, SHA_AGE),
           V1 + "-> X25519 ajtqAvDEkVNr2B7zUOtq2mAQXDSBlNrVAuM/dKb5sT4\n"
           "0evrK/HQXVsQ4YaDe+659l5OQzvAzD2ytLGHQLQiqxg\n"
           "-> X25519 0qC7u6AbLxuwnM8tPFOWVtWZn/ZZe7z7gcsP5kgA0FI\n"
           "T/PZg76MmVt2IaLntrxppzDnzeFDYHsHFcnTnhbRLQ8\n"
           "--- 7W07ef2PhsTAl74pn+9vSj/Xzukwa6SuTqMc16cdBk0\n",
           payload(FILE_KEY, ks(96, 16), AGE_FINAL))
    vector("scrypt", meta("success", pw, SHA_AGE),
           V1 + SCRYPT_STANZA + "--- IOXiQYStkoT1mvZW2tFOqZdhRVvj58egABx/sWfZQbc\n",
           small_after_scrypt)

    # no match
    vector("x25519_bad_tag",
           meta("no match", rid, comment="the ChaCha20Poly1305 authentication tag on the body of "
                "the X25519 stanza is wrong"),
           V1 + stanza_x25519_tei("EmECAEcKN+n/Vs9SbWiV+Hu0r+E8R77DdWYyd83nw0o") +
           "--- tG0k9bg4iIuBdMWb13n7FFYDzoBbtsLppNLhbh22aKg\n", small)
    vector("scrypt_uppercase", meta("no match", pw),
           V1 + "-> Scrypt rF0/NwblUHHTpgQgRpe5CQ 10\n"
           "gUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n"
           "--- In/TcKP5wDKP14sufF74poPZcpaLVECmfDt0G+yMIs4\n", small_after_scrypt)
    vector("scrypt_work_factor_wrong", meta("no match", pw),
           V1 + "-> scrypt rF0/NwblUHHTpgQgRpe5CQ 10\n"
           "1hqlaoCUpkgzYI+oTS0p1Nxm9u3Fjib8REjrwp40mRE\n"
           "--- i9lHiMJydkXC7XcQk/j7lrJGmCfzI/L2cfJqGy6jT8I\n", small_after_scrypt)

    # HMAC failure
    vector("hmac_bad", meta("HMAC failure", tid),
           V1 + stanza_x25519_tei(TEI_BODY_TEST) +
           "--- 8McE3ix9R34E/vLrQv3yepsHjo/LXhfs22Ab3UyInmg\n", small)

    # header failure
    vector("x25519_not_canonical_share",
           meta("header failure", rid, comment="the base64 encoding of the share is not canonical"),
           V1 + "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCd\n" + TEI_BODY_RECIPIENT +
           "\n--- AO6haEGU6BGJ8Tzeqnr2fSLEo31JrWodGtZuCZmijI8\n", small)
    vector("x25519_extra_argument",
           meta("header failure", rid, comment="the base64 encoding of the share is not canonical"),
           V1 + "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc 1234\n" +
           TEI_BODY_RECIPIENT + "\n--- hQQySEUXL8pOuIOuw0qXzi66RphDJP9IKMNEChNJIPk\n", small)
    vector("x25519_low_order",
           meta("header failure", tid, comment="the X25519 share is a low-order point, so the "
                "shared secret is the disallowed all-zero value"),
           V1 + "-> X25519 X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEdc\n"
           "3E0NpFans/m0WLWF7+54ZBdNj3iqQqpraGDFiaRkvBA\n"
           "--- sXw327YMT1/ULXe+ZyRMbMY0Z2jnWHGgI9j1we6yQ8A\n", small_at_start)
    vector("hmac_garbage", meta("header failure", tid),
           V1 + stanza_x25519_tei(TEI_BODY_TEST) +
           "--- WyJp9F/9FOZh7gJdheq2WIJcwHgYc8NIVh3ddwhrcNgAAA\n", small)
    vector("hmac_not_canonical",
           meta("header failure", tid, comment="the base64 encoding of the HMAC is not canonical"),
           V1 + stanza_x25519_tei(TEI_BODY_TEST) +
           "--- WyJp9F/9FOZh7gJdheq2WIJcwHgYc8NIVh3ddwhrcNh\n", small)
    vector("stanza_missing_final_line",
           meta("header failure", rid, comment="every stanza must end with a short body line"),
           V1 + stanza_x25519_tei(TEI_BODY_RECIPIENT) + "-> stanza\n" + "A" * 64 + "\n"
           "--- GRjUy1ShNhFoV3cQikdtUZqDeDEZSrbtNXUgDtDbwC8\n", small)
    vector("stanza_long_line",
           meta("header failure", rid, comment="a body line is longer than 64 columns"),
           V1 + stanza_x25519_tei(TEI_BODY_RECIPIENT) + "-> stanza\n" + "A" * 68 + "\n\n"
           "--- tnRUR2vmmU92czsjnioF5ujgXUetUhzUoQPPGT9wmug\n", small)
    vector("stanza_base64_padding", meta("header failure", rid),
           V1 + stanza_x25519_tei(TEI_BODY_RECIPIENT) + "-> stanza\n" + "QUFB" * 16 + "\n"
           "QUE=\n--- OtG7IuNHaf2SHZuowmxg/fhbhtz0/DI5g5OGd7WH7S0\n", small)
    vector("version_unsupported", meta("header failure", rid),
           "age-encryption.org/v1234\n" + stanza_x25519_tei(TEI_BODY_RECIPIENT) +
           "--- 38AL8Mr4VwmS6CNbM4bc7u3WwGBDqsMTRHOuYJ9ckqs\n", small)
    vector("scrypt_and_x25519",
           meta("header failure", ["identity: " + ID_SCRYPT_AND_X25519] + pw,
                comment="scrypt stanzas must be alone in the header"),
           V1 + "-> X25519 ajtqAvDEkVNr2B7zUOtq2mAQXDSBlNrVAuM/dKb5sT4\n"
           "U+hKlJ4isweJ9PKG7pgscmG3cPASLgTw7SOBpbZ8x2U\n"
           "-> scrypt 3d9y0G+8q1ffPQ0xJJatIQ 10\n"
           "foZolxuhRSL7IG7oaR+456IzkHtvue7j4mUjh3DB6EI\n"
           "--- yp4Z0lV1LEdkm1+uDCuPUV+9hIXbPKrBXKQ/f5Y03As\n",
           payload(FILE_KEY, ks(80, 16), AGE_FINAL))
    vector("scrypt_double",
           meta("header failure", pw + ["passphrase: hunter2"],
                comment="scrypt stanzas must be alone in the header"),
           V1 + SCRYPT_STANZA + "-> scrypt GzXG5ofdANo6w3msn3QsIQ 10\n"
           "OveITuwxakv7k2oLnioNYF4Bhgz9KZ36pb098wDoAv8\n"
           "--- a5d+4Ay1evJhoDskIzuTZV9bBgKk4573VZNfuoWJDPE\n", small)
    vector("scrypt_work_factor_23",
           meta("header failure", pw, comment="work factor is very high, would take a long time "
                "to compute"),
           V1 + "-> scrypt rF0/NwblUHHTpgQgRpe5CQ 23\n"
           "qW9eVsT0NVb/Vswtw8kPIxUnaYmm9Px1dYmq2+4+qZA\n"
           "--- 38TpQMxQRRNMfmYYpBX6DDrPx4/QY5UmJnhPyVoX/cw\n", small_at_start)
    vector("scrypt_work_factor_leading_plus", meta("header failure", pw),
           V1 + "-> scrypt rF0/NwblUHHTpgQgRpe5CQ +10\n"
           "gUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n"
           "--- asCGzSHSu5DwU7Y5j+nSrTohKoFNji9uK/3IksXnC4k\n", small_after_scrypt)
    vector("scrypt_not_canonical_salt", meta("header failure", pw),
           V1 + "-> scrypt rF0/NwblUHHTpgQgRpe5CR 10\n"
           "gUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n"
           "--- ICTA8viD2DrPbktjxaSm4Pvgd3DKGiJSL/vdStr9MYs\n", small_after_scrypt)
    vector("stream_short_nonce", meta("header failure", rid), X25519_HEADER, ks(32, 12))

    # payload failure
    flipped = bytearray(small)
    flipped[-1] ^= 0x20
    vector("stream_bad_tag", meta("payload failure", rid, SHA_EMPTY), X25519_HEADER,
           bytes(flipped))
    vector("stream_no_final", meta("payload failure", rid, SHA_EMPTY), X25519_HEADER,
           payload(FILE_KEY, ks(32, 16), [(b"age", False)]))
    vector("stream_missing_tag", meta("payload failure", rid, SHA_EMPTY), X25519_HEADER,
           small[:-16])
    vector("stream_no_chunks", meta("payload failure", rid, SHA_EMPTY), X25519_HEADER, ks(32, 16))

    # Regenerated whole (see the top of this file): a 64 KiB chunk of zeros
    # under the large-test file key and nonce.
    FILE_KEY_FOR_STANZA[0] = LARGE_FILE_KEY
    header = V1 + x25519_stanza(ks(0, 32), bech32_decode_bytes(ID_TEST))
    header += header_mac(LARGE_FILE_KEY, header) + "\n"
    FILE_KEY_FOR_STANZA[0] = FILE_KEY
    zeros = b"\0" * 65536

    def large_meta(comment=None):
        lines = ["expect: payload failure", "payload: " + SHA_64K_ZEROS,
                 "file key: " + LARGE_FILE_KEY.hex(), "identity: " + ID_TEST]
        if comment:
            lines.append("comment: " + comment)
        return lines

    vector("stream_last_chunk_empty",
           large_meta("final STREAM chunk can't be empty unless whole payload is empty"), header,
           payload(LARGE_FILE_KEY, LARGE_NONCE, [(zeros, False), (b"", True)]))
    vector("stream_trailing_garbage_short", large_meta(), header,
           payload(LARGE_FILE_KEY, LARGE_NONCE, [(zeros, True)]) + ks(32, 12))
    two_final = payload(LARGE_FILE_KEY, LARGE_NONCE, [(zeros, True)])
    second_key = hkdf(LARGE_FILE_KEY, LARGE_NONCE, b"payload")
    # The testkit only advances the counter for non-final chunks, so the second
    # "final" chunk reuses the nonce of the first.
    two_final += ChaCha20Poly1305(second_key).encrypt((0).to_bytes(11, "big") + b"\1", b"age", None)
    vector("stream_two_final_chunks", large_meta(), header, two_final)


def main():
    self_check()
    build()
    for name, meta, header, tail in VECTORS:
        with open(os.path.join(OUT, name), "wb") as out:
            out.write(("\n".join(meta) + "\n\n").encode())
            out.write(header)
            out.write(tail)
    print("wrote %d vectors to %s" % (len(VECTORS), OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
