"""Encrypted attribute envelopes (the Go DynamORM's format) and the codec of encrypted fields.

An encrypted attribute is stored as ``M{v: N "1", edk: B, nonce: B (12 bytes), ct: B}``: ``ct``
is AES-256-GCM over the attribute's AttributeValue written as typed JSON (``{"t":"S","s":..}``),
with the associated data ``dynamorm:encrypted:v1|attr=<stored attribute name>``, under a data
key whose KMS-encrypted form is ``edk``.

Pure: no I/O and no KMS. The codec encrypts with the data key and decrypts with the opened keys
of the :class:`KeySet` made active by :func:`using`; the caller fetches them (from KMS or its
cache) before encoding or decoding. AES-GCM objects come from the caller too (``cryptography``
is imported by the feature that makes keys, never here).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Collection, Iterable, Mapping
from contextvars import ContextVar, Token
from typing import Any, Protocol

from dynamorm._core.errors import (
    EncryptionNotConfigured,
    InvalidEncryptedEnvelope,
    ValidationError,
)
from dynamorm._core.fieldcodec import TypeCodec

AV = dict[str, Any]

VERSION = "1"
NONCE_BYTES = 12
TAG_BYTES = 16
AAD_PREFIX = "dynamorm:encrypted:v1|attr="
_FIELDS = ("v", "edk", "nonce", "ct")


def aad(stored: str) -> bytes:
    """The associated data binding a ciphertext to its stored attribute name."""
    return (AAD_PREFIX + stored).encode()


class Aead(Protocol):
    """An AES-GCM key (``cryptography``'s ``AESGCM``)."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class DataKey:
    """A data key: its AES-GCM object and its KMS-encrypted form ``edk`` (standard base64).
    The plaintext key is never shown."""

    __slots__ = ("aead", "edk")

    def __init__(self, aead: Aead, edk: str) -> None:
        self.aead: Aead = aead
        self.edk: str = edk

    def __repr__(self) -> str:
        return "DataKey(<hidden>)"


class KeySet:
    """The keys one read or write may use: ``seal`` encrypts new values (None: a read);
    ``opened`` maps the ``edk`` of stored envelopes to their AES-GCM objects."""

    __slots__ = ("opened", "seal")

    def __init__(self, seal: DataKey | None = None, opened: Mapping[str, Aead] | None = None):
        self.seal = seal
        self.opened: Mapping[str, Aead] = opened if opened is not None else {}

    def __repr__(self) -> str:
        return f"KeySet(seal={'yes' if self.seal else 'no'}, opened={len(self.opened)})"


class KeyProvider(Protocol):
    """Where a DB gets data keys (KMS behind a bounded cache)."""

    def sealing_key(self, uses: int, *, deadline: float | None = None) -> DataKey:
        """A data key good for ``uses`` more encryptions."""
        ...

    def open_keys(self, edks: Collection[str], *, deadline: float | None = None) -> dict[str, Aead]:
        """The AES-GCM objects of these encrypted data keys."""
        ...


_ACTIVE: ContextVar[KeySet | None] = ContextVar("dynamorm_encryption_keys", default=None)


class using:
    """Make ``keys`` the ones encrypted fields encode and decode with, for a ``with`` block."""

    __slots__ = ("_keys", "_token")

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys
        self._token: Token[KeySet | None] | None = None

    def __enter__(self) -> KeySet:
        self._token = _ACTIVE.set(self._keys)
        return self._keys

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None


class Hidden:
    """Stands for an encrypted field's value in reprs, messages and update displays."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<encrypted>"


HIDDEN = Hidden()


# --- typed AttributeValue JSON --------------------------------------------------------------

_SCALARS = {"S": "s", "N": "n", "B": "b"}
_SETS = {"SS": "ss", "NS": "ns", "BS": "bs"}


def to_tagged(av: AV) -> dict[str, Any]:
    """An AttributeValue as an envelope's plaintext: ``{"S": "x"}`` -> ``{"t":"S","s":"x"}``."""
    ((tag, value),) = av.items()
    if tag in _SCALARS:
        return {"t": tag, _SCALARS[tag]: value}
    if tag == "BOOL":
        return {"t": "BOOL", "bool": value}
    if tag == "NULL":
        return {"t": "NULL", "null": True}
    if tag == "L":
        return {"t": "L", "l": [to_tagged(v) for v in value]}
    if tag == "M":
        return {"t": "M", "m": {k: to_tagged(v) for k, v in value.items()}}
    if tag in _SETS:
        return {"t": tag, _SETS[tag]: list(value)}
    raise ValidationError(f"cannot encrypt an AttributeValue of type {tag}")


def from_tagged(obj: Any) -> AV:
    """The AttributeValue of an envelope's plaintext object (absent lists and maps: empty)."""
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    tag = obj.get("t")
    if tag in _SCALARS:
        value = obj[_SCALARS[tag]]
        if not isinstance(value, str):
            raise ValueError("scalar is not a string")
        if tag == "B":
            base64.b64decode(value, validate=True)
        return {tag: value}
    if tag == "BOOL":
        if not isinstance(obj["bool"], bool):
            raise ValueError("bool is not a boolean")
        return {"BOOL": obj["bool"]}
    if tag == "NULL":
        return {"NULL": True}
    if tag == "L":
        items = obj.get("l") or []
        if not isinstance(items, list):
            raise ValueError("l is not a list")
        return {"L": [from_tagged(v) for v in items]}
    if tag == "M":
        members = obj.get("m") or {}
        if not isinstance(members, dict):
            raise ValueError("m is not an object")
        return {"M": {str(k): from_tagged(v) for k, v in members.items()}}
    if tag in _SETS:
        values = obj.get(_SETS[tag]) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("set is not a list of strings")
        return {tag: values}
    raise ValueError("unknown type tag")


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def seal(key: DataKey, stored: str, av: AV) -> AV:
    """Encrypt ``av`` for attribute ``stored`` under ``key``: the envelope AttributeValue."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = _dumps(to_tagged(av)).encode()
    ct = key.aead.encrypt(nonce, plaintext, aad(stored))
    return {
        "M": {
            "v": {"N": VERSION},
            "edk": {"B": key.edk},
            "nonce": {"B": base64.b64encode(nonce).decode()},
            "ct": {"B": base64.b64encode(ct).decode()},
        }
    }


_NONCE_TEXT = 16  # base64 characters of a 12-byte nonce


def edk_of(av: object) -> str | None:
    """The ``edk`` of a value shaped like a version 1 envelope, else None (a cheap check, so
    a malformed envelope is reported by :func:`parts` rather than sent to KMS)."""
    members = av.get("M") if isinstance(av, dict) else None
    if not isinstance(members, dict) or members.get("v") != {"N": VERSION}:
        return None
    edk, nonce, ct = members.get("edk"), members.get("nonce"), members.get("ct")
    if not (isinstance(edk, dict) and isinstance(nonce, dict) and isinstance(ct, dict)):
        return None
    value, nonce_text = edk.get("B"), nonce.get("B")
    if not isinstance(nonce_text, str) or len(nonce_text) != _NONCE_TEXT:
        return None
    return value if isinstance(value, str) and value else None


def edks(items: Iterable[Mapping[str, Any] | None], stored: Collection[str]) -> set[str]:
    """The distinct ``edk`` of the envelopes in attributes ``stored`` of ``items``."""
    found: set[str] = set()
    for item in items:
        if item:
            for name in stored:
                edk = edk_of(item.get(name))
                if edk is not None:
                    found.add(edk)
    return found


def parts(av: object, where: str) -> tuple[str, bytes, bytes]:
    """``(edk, nonce, ct)`` of a stored envelope; ``InvalidEncryptedEnvelope`` otherwise."""

    try:  # the well-formed case, checked in one pass
        members = av["M"]  # type: ignore[index]
        edk = members["edk"]["B"]
        if (
            len(av) == 1  # type: ignore[arg-type]
            and members["v"] == {"N": VERSION}
            and type(edk) is str
            and edk
            and len(members["nonce"]) == 1
            and len(members["ct"]) == 1
        ):
            nonce = binascii.a2b_base64(members["nonce"]["B"], strict_mode=True)
            ct = binascii.a2b_base64(members["ct"]["B"], strict_mode=True)
            if len(nonce) == NONCE_BYTES and len(ct) >= TAG_BYTES:
                return edk, nonce, ct
    except (KeyError, TypeError, ValueError, binascii.Error):
        pass
    return _parts_carefully(av)


def _parts_carefully(av: object) -> tuple[str, bytes, bytes]:
    """:func:`parts` with a precise message for what is wrong."""

    def bad(detail: str) -> InvalidEncryptedEnvelope:
        return InvalidEncryptedEnvelope(
            f"the stored value of an encrypted field is not a valid envelope ({detail}); "
            "plaintext is never accepted in place of an envelope"
        )

    members = av.get("M") if isinstance(av, dict) and len(av) == 1 else None
    if not isinstance(members, dict):
        raise bad(f"a stored {_tag(av)} value, not an M envelope")
    missing = [name for name in _FIELDS if name not in members]
    if missing:
        raise bad(f"no {', '.join(missing)}")
    if members["v"] != {"N": VERSION}:
        raise bad("unsupported version")
    raw: list[bytes] = []
    for name in ("edk", "nonce", "ct"):
        member = members[name]
        text = member.get("B") if isinstance(member, dict) and len(member) == 1 else None
        if not isinstance(text, str):
            raise bad(f"{name} is not binary")
        if name == "edk":  # KMS reads it; here it only names the data key
            if not text:
                raise bad("empty edk")
            continue
        try:
            raw.append(binascii.a2b_base64(text, strict_mode=True))
        except (binascii.Error, ValueError):
            raise bad(f"{name} is not valid base64") from None
    nonce, ct = raw
    if len(nonce) != NONCE_BYTES:
        raise bad(f"nonce of {len(nonce)} bytes, not {NONCE_BYTES}")
    if len(ct) < TAG_BYTES:
        raise bad("ciphertext shorter than the GCM tag")
    return members["edk"]["B"], nonce, ct


def open_envelope(keys: Mapping[str, Aead], stored: str, av: object, where: str) -> AV:
    """Decrypt the envelope ``av`` of attribute ``stored`` with the opened ``keys``."""
    edk, nonce, ct = parts(av, where)
    aead = keys.get(edk)
    if aead is None:
        raise EncryptionNotConfigured(
            f"{where}: no data key was opened for this envelope (read it through a DB "
            "configured with kms_key_arn=...)",
            path=where,
        )
    try:
        plaintext = aead.decrypt(nonce, ct, aad(stored))
    except Exception:  # cryptography's InvalidTag: tampered, other key, or another attribute
        raise InvalidEncryptedEnvelope(
            f"the envelope does not decrypt for attribute {stored!r} (tampered, "
            "written under another key, or moved from another attribute)"
        ) from None
    try:
        return from_tagged(json.loads(plaintext))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidEncryptedEnvelope(
            "the decrypted value is not a typed AttributeValue"
        ) from None


def _tag(av: object) -> str:
    return str(next(iter(av))) if isinstance(av, dict) and len(av) == 1 else type(av).__name__


# --- the codec ------------------------------------------------------------------------------


def _not_configured(where: str, doing: str) -> EncryptionNotConfigured:
    return EncryptionNotConfigured(
        f"{where} is encrypted and cannot be {doing} here: read and write it through a DB "
        "configured with kms_key_arn=... (or AWS_ENDPOINT_URL_KMS for a local KMS)",
        path=where,
    )


def seal_active(av: AV, stored: str, where: str) -> AV:
    """Encrypt ``av`` for attribute ``stored`` under the active data key (see :func:`using`)."""
    keys = _ACTIVE.get()
    if keys is None or keys.seal is None:
        raise _not_configured(where, "encrypted")
    return seal(keys.seal, stored, av)


def encrypted_codec(inner: TypeCodec, stored: str, where: str) -> TypeCodec:
    """The codec of an encrypted field: ``inner``'s AttributeValue sealed in an envelope for
    the attribute ``stored`` (``where`` names the field in errors).

    Messages never show the value: a bad value is named by its type only.
    """

    def encode(value: Any, depth: int) -> AV:
        if _ACTIVE.get() is None:
            raise _not_configured(where, "encrypted")
        try:
            av = inner.encode(value, depth)
        except ValidationError:
            raise ValidationError(
                f"invalid value for an encrypted {inner.kind} field (got a "
                f"{type(value).__name__}; the value is not shown)"
            ) from None
        return seal_active(av, stored, where)

    def decode(av: AV) -> Any:
        if inner.optional and av == {"NULL": True}:
            return None  # a NULL holds no secret (the generated decoders read it the same way)
        keys = _ACTIVE.get()
        if keys is None:
            parts(av, where)  # a plaintext value is reported as such first
            raise _not_configured(where, "decrypted")
        plain = open_envelope(keys.opened, stored, av, where)
        try:
            return inner.decode(plain)
        except Exception:
            raise InvalidEncryptedEnvelope(
                f"the decrypted value is not a valid {inner.kind} (not shown)"
            ) from None

    codec = TypeCodec("encrypted", encode, decode, args=(inner,), empty=inner.empty)
    codec.optional = inner.optional
    return codec
