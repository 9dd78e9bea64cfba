"""Secrets at rest: symmetric encryption for values we must read back (provider API keys,
widget identity secrets). Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

The key comes from `FIELD_ENCRYPTION_KEY` (a Fernet key, or any passphrase, which is
stretched with SHA-256). Changing it makes stored secrets unreadable: re-enter them.
"""

import base64
import hashlib
import re
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionError(Exception):
    pass


@cache
def _fernet(key_material: str) -> Fernet:
    try:
        return Fernet(key_material.encode())
    except ValueError:
        digest = hashlib.sha256(key_material.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def _current() -> Fernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("Secret cannot be decrypted with FIELD_ENCRYPTION_KEY") from exc


# Field names that hold secrets or internal work bookkeeping, never exported or shown.
SECRET_FIELD = re.compile(
    r"password|hash|secret|encrypted|claim_token|api_key|private", re.IGNORECASE
)
