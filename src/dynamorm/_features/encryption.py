"""Field encryption: KMS data keys behind a bounded cache, for ``field(encrypted=True)``.

A DB built with ``kms_key_arn=`` gets a :class:`KmsKeyring`. Writes take a data key from it
before encoding: one ``GenerateDataKey`` serves many values until the key reaches
``DataKeyPolicy.max_age`` seconds or ``max_uses`` encryptions (never more than 2^32, the limit
for AES-GCM with random 96-bit nonces). Reads collect the distinct ``edk`` of the envelopes
they hold and open each once: decrypted keys are cached by ``edk`` (at most ``cache_size``
of them, each for ``cache_ttl`` seconds), so a page of items written under one key costs one
``Decrypt``. ``cryptography`` is imported when the first key is made or opened.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from dynamorm._core.envelope import Aead, DataKey
from dynamorm._core.errors import (
    ConfigurationError,
    EncryptionNotConfigured,
    InvalidEncryptedEnvelope,
    KmsError,
    ProtocolError,
)

if TYPE_CHECKING:
    from dynamorm._io.kms import KmsClient

MAX_NONCES = 2**32
"""Encryptions per data key AES-GCM allows with random 96-bit nonces (NIST SP 800-38D)."""

_WRONG_KEY = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


def _positive(name: str, value: object, *, whole: bool = False) -> None:
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        raise ConfigurationError(f"DataKeyPolicy: {name} must be a number > 0, got {value!r}")


class DataKeyPolicy:
    """How long data keys are reused and cached.

    ``max_age``: seconds one data key encrypts new values (default 300); ``max_uses``:
    encryptions per data key (default 100,000; at most 2^32); ``cache_size``: decrypted data
    keys kept for reads (default 1,000); ``cache_ttl``: seconds one is kept (default 300).
    """

    __slots__ = ("cache_size", "cache_ttl", "max_age", "max_uses")

    def __init__(
        self,
        *,
        max_age: float = 300.0,
        max_uses: int = 100_000,
        cache_size: int = 1000,
        cache_ttl: float = 300.0,
    ) -> None:
        _positive("max_age", max_age)
        _positive("max_uses", max_uses, whole=True)
        _positive("cache_size", cache_size, whole=True)
        _positive("cache_ttl", cache_ttl)
        if max_uses > MAX_NONCES:
            raise ConfigurationError(
                f"DataKeyPolicy: max_uses is at most 2^32 (the AES-GCM random-nonce limit), "
                f"got {max_uses}"
            )
        self.max_age: float = float(max_age)
        self.max_uses: int = max_uses
        self.cache_size: int = cache_size
        self.cache_ttl: float = float(cache_ttl)

    def __repr__(self) -> str:
        return (
            f"DataKeyPolicy(max_age={self.max_age:g}, max_uses={self.max_uses}, "
            f"cache_size={self.cache_size}, cache_ttl={self.cache_ttl:g})"
        )


def _aesgcm(key: bytes) -> Aead:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise EncryptionNotConfigured(
            "field encryption needs the 'cryptography' package: pip install 'dynamorm[encryption]'"
        ) from None
    aead: Aead = AESGCM(key)
    return aead


class _Current:
    __slots__ = ("born", "key", "uses")

    def __init__(self, key: DataKey, born: float) -> None:
        self.key = key
        self.born = born
        self.uses = 0


class KmsKeyring:
    """Data keys from KMS for one key ARN, reused and cached per :class:`DataKeyPolicy`.

    Thread safe. ``generated`` and ``decrypted`` count the KMS calls made.
    """

    def __init__(
        self,
        kms: KmsClient,
        key_arn: str,
        policy: DataKeyPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kms = kms
        self.key_arn = key_arn
        self.policy = policy if policy is not None else DataKeyPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._kms_lock = threading.Lock()
        self._current: _Current | None = None
        self._opened: OrderedDict[str, tuple[Aead, float]] = OrderedDict()
        self.generated = 0
        self.decrypted = 0

    def sealing_key(self, uses: int, *, deadline: float | None = None) -> DataKey:
        """A data key with ``uses`` encryptions reserved on it (a new one from
        ``GenerateDataKey`` when the current one is too old or too used)."""
        policy = self.policy
        if uses > policy.max_uses:
            raise ConfigurationError(
                f"one write needs {uses} encryptions, over DataKeyPolicy.max_uses={policy.max_uses}"
            )
        with self._lock:
            current = self._current
            now = self._clock()
            if (
                current is None
                or now - current.born >= policy.max_age
                or current.uses + uses > policy.max_uses
            ):
                current = self._current = _Current(self._generate(deadline), now)
            current.uses += uses
            return current.key

    def open_keys(self, edks: Collection[str], *, deadline: float | None = None) -> dict[str, Aead]:
        """The AES-GCM objects of ``edks``: from the cache, else one ``Decrypt`` each."""
        found: dict[str, Aead] = {}
        missing: list[str] = []
        now = self._clock()
        with self._lock:
            for edk in edks:
                entry = self._opened.get(edk)
                if entry is not None and now - entry[1] < self.policy.cache_ttl:
                    self._opened.move_to_end(edk)
                    found[edk] = entry[0]
                else:
                    missing.append(edk)
        for edk in missing:  # one Decrypt per edk even when threads miss it together
            with self._kms_lock:
                aead = self._cached(edk)
                if aead is None:
                    aead = self._decrypt(edk, deadline)
                    self._remember(edk, aead)
            found[edk] = aead
        return found

    def _cached(self, edk: str) -> Aead | None:
        with self._lock:
            entry = self._opened.get(edk)
            if entry is None or self._clock() - entry[1] >= self.policy.cache_ttl:
                return None
            return entry[0]

    def forget(self) -> None:
        """Drop every cached key (the next write generates a new data key)."""
        with self._lock:
            self._current = None
            self._opened.clear()

    def _remember(self, edk: str, aead: Aead) -> None:
        with self._lock:
            self._keep(edk, aead)

    def _keep(self, edk: str, aead: Aead) -> None:
        """Cache an opened key (the caller holds the lock)."""
        self._opened[edk] = (aead, self._clock())
        self._opened.move_to_end(edk)
        while len(self._opened) > self.policy.cache_size:
            self._opened.popitem(last=False)

    def _generate(self, deadline: float | None) -> DataKey:
        """A new data key from KMS (the caller holds the lock)."""
        response = self.kms.call(
            "GenerateDataKey", {"KeyId": self.key_arn, "KeySpec": "AES_256"}, deadline=deadline
        )
        self.generated += 1
        plaintext = self._blob(response, "Plaintext", "GenerateDataKey")
        edk = response.get("CiphertextBlob")
        if not isinstance(edk, str) or not edk or len(plaintext) != 32:
            raise ProtocolError("KMS GenerateDataKey answered without a 32-byte data key")
        aead = _aesgcm(plaintext)
        key = DataKey(aead, edk)
        self._keep(edk, aead)  # what this process writes, it reads back without KMS
        return key

    def _decrypt(self, edk: str, deadline: float | None) -> Aead:
        try:
            response = self.kms.call(
                "Decrypt", {"CiphertextBlob": edk, "KeyId": self.key_arn}, deadline=deadline
            )
        except KmsError as exc:
            if exc.type_name in _WRONG_KEY:
                raise InvalidEncryptedEnvelope(
                    f"an envelope's data key does not decrypt under {self.key_arn} "
                    f"({exc.type_name}): written under another KMS key, or corrupted"
                ) from exc
            raise
        self.decrypted += 1
        plaintext = self._blob(response, "Plaintext", "Decrypt")
        if len(plaintext) != 32:
            raise InvalidEncryptedEnvelope(
                f"KMS Decrypt returned a {len(plaintext)}-byte data key, not 32"
            )
        return _aesgcm(plaintext)

    @staticmethod
    def _blob(response: dict[str, Any], name: str, operation: str) -> bytes:
        text = response.get(name)
        try:
            if isinstance(text, str):
                return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
        raise ProtocolError(f"KMS {operation} answered without a readable {name}")

    def __repr__(self) -> str:
        return f"KmsKeyring({self.key_arn!r}, {self.policy!r})"
