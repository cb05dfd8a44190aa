"""Secrets at rest: AES-256-GCM with a key kept in a file of mode 0600.

The key file holds 32 random bytes (base64).  It is generated on first run
if absent.  Ciphertexts are ``b"\\x01" + nonce(12) + ciphertext+tag``; the
version byte leaves room for key rotation.  AES-GCM (not Fernet) because
100,000 login secrets are decrypted at start-up and GCM is several times
faster.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


class SecretBoxError(Exception):
    pass


def load_or_create_key(path: str | Path) -> bytes:
    """Read the key file, creating it (0600, parent 0700) if it does not exist."""
    p = Path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, base64.b64encode(key) + b"\n")
        finally:
            os.close(fd)
        return key
    mode = p.stat().st_mode & 0o077
    if mode:
        os.chmod(p, 0o600)
    try:
        key = base64.b64decode(p.read_bytes().strip(), validate=True)
    except ValueError as e:
        raise SecretBoxError(f"{p}: not a base64 key: {e}") from None
    if len(key) != 32:
        raise SecretBoxError(f"{p}: key must be 32 bytes, found {len(key)}")
    return key


class SecretBox:
    """Encrypts and decrypts small secrets with the configured key."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes | str) -> bytes:
        if isinstance(plaintext, str):
            plaintext = plaintext.encode()
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, blob: bytes) -> bytes:
        if not blob or blob[:1] != _VERSION:
            raise SecretBoxError("unknown secret format")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], None)
        except Exception:
            raise SecretBoxError("secret does not decrypt with this key (wrong key file?)") from None
