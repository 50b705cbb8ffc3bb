"""The snapshot's cheap password verifier, checked against RFC 7677's example exchange."""

from __future__ import annotations

import base64
import hashlib
import hmac

from stability.containers.scram import verifier

# RFC 7677, section 3: user "user", password "pencil".
_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
_CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
_SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def _keys(text: str) -> tuple[int, bytes, bytes, bytes]:
    method, rest = text.split("$", 1)
    assert method == "SCRAM-SHA-256"
    head, keys = rest.split("$")
    iterations, salt = head.split(":")
    stored, server = keys.split(":")
    return int(iterations), *(base64.b64decode(x) for x in (salt, stored, server))  # type: ignore[return-value]


def test_the_verifier_accepts_the_rfc_exchange() -> None:
    iterations, salt, stored_key, server_key = _keys(verifier("pencil", 4096, _SALT))
    assert (iterations, salt) == (4096, _SALT)
    # the server's signature it would send back
    assert hmac.digest(server_key, _AUTH_MESSAGE, "sha256") == _SERVER_SIGNATURE
    # the client's proof, checked as the server checks it
    signature = hmac.digest(stored_key, _AUTH_MESSAGE, "sha256")
    client_key = bytes(a ^ b for a, b in zip(_CLIENT_PROOF, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_a_wrong_password_gives_other_keys() -> None:
    _, _, stored, _ = _keys(verifier("pencil", 4096, _SALT))
    assert _keys(verifier("pencils", 4096, _SALT))[2] != stored


def test_by_default_one_iteration_and_a_fresh_salt() -> None:
    first, second = _keys(verifier("test")), _keys(verifier("test"))
    assert first[0] == second[0] == 1
    assert len(first[1]) == 16 and first[1] != second[1]
