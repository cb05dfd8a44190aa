"""RADIUS dictionary: pyrad's parser, with lookup tables for encode/decode.

pyrad reads the dictionary files (format and ``$INCLUDE``); this module turns
its objects into flat tables keyed by name and by ``(vendor, code)`` so that
building reply attributes and reading request values need no pyrad objects.

Values are encoded as given: attributes flagged ``encrypt=`` in the
dictionary (User-Password, MS-MPPE-Send/Recv-Key) must be hidden by the
caller with :func:`aaad.radius.codec.pap_hide` / ``salt_encrypt`` first;
:meth:`RadiusDictionary.encrypt_of` tells which. All encoding errors are
``ValueError``.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pyrad.dictionary import Dictionary

from aaad.radius.codec import encode_attr, encode_vsa

ENV_VAR = "AAAD_DICTIONARY"

# Integer-like data types: (value length in octets, signed).
_INT_TYPES: dict[str, tuple[int, bool]] = {
    "integer": (4, False),
    "date": (4, False),
    "signed": (4, True),
    "short": (2, False),
    "byte": (1, False),
    "integer64": (8, False),
}


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of the dictionary, flattened."""

    name: str
    vendor: int
    code: int
    type: str
    encrypt: int = 0
    has_tag: bool = False
    values: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)


def default_dictionary_path() -> Path:
    """Where the dictionary is: $AAAD_DICTIONARY, else the first that exists of
    the source tree's conf/dictionary, <prefix>/share/aaad/dictionary and
    /etc/aaad/dictionary."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    candidates = [
        Path(__file__).resolve().parents[2] / "conf" / "dictionary" / "dictionary",
        Path(sys.prefix) / "share" / "aaad" / "dictionary" / "dictionary",
        Path("/etc/aaad/dictionary/dictionary"),
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no RADIUS dictionary found; set {ENV_VAR} or install one at "
        + ", ".join(str(c) for c in candidates))


def load_dictionary(path: str | None = None) -> RadiusDictionary:
    """Load a pyrad-format dictionary file (default: the shipped one)."""
    resolved = Path(path) if path is not None else default_dictionary_path()
    return RadiusDictionary(Dictionary(str(resolved)), str(resolved))


class RadiusDictionary:
    """A pyrad Dictionary with precomputed tables for the hot path."""

    def __init__(self, pyrad_dict: Dictionary, path: str = "") -> None:
        self.pyrad = pyrad_dict
        self.path = path
        self._by_name: dict[str, AttributeDef] = {}
        self._by_key: dict[tuple[int, int], AttributeDef] = {}
        vendor_ids: set[int] = set()
        for name, attr in pyrad_dict.attributes.items():
            if attr.is_sub_attribute or attr.type == "tlv":
                continue  # nested TLVs are not used by aaad
            vendor = pyrad_dict.vendors.GetForward(attr.vendor) if attr.vendor else 0
            if vendor:
                vendor_ids.add(vendor)
            values: dict[str, int] = {}
            if attr.type in _INT_TYPES:
                signed = _INT_TYPES[attr.type][1]
                for value_name, raw in attr.values.forward.items():
                    values[value_name] = int.from_bytes(raw, "big", signed=signed)
            # the last alias defined wins, as in pyrad's reverse mapping
            names = {number: value_name for value_name, number in values.items()}
            adef = AttributeDef(name, vendor, attr.code, attr.type, attr.encrypt,
                                attr.has_tag, values, names)
            self._by_name[name] = adef
        for name in pyrad_dict.attrindex.backward.values():
            known = self._by_name.get(name)
            if known is not None:
                self._by_key[(known.vendor, known.code)] = known
        for adef in self._by_name.values():
            self._by_key.setdefault((adef.vendor, adef.code), adef)
        self.vendor_ids: frozenset[int] = frozenset(vendor_ids)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def attribute(self, name: str) -> AttributeDef:
        """The definition of an attribute; ValueError if unknown."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"unknown RADIUS attribute {name!r}") from None

    def attr_key(self, name: str) -> tuple[int, int]:
        """(vendor, code) of an attribute; vendor 0 for standard attributes."""
        adef = self.attribute(name)
        return (adef.vendor, adef.code)

    def name_of(self, vendor: int, code: int) -> str | None:
        """The attribute name for (vendor, code), or None if not in the dictionary."""
        adef = self._by_key.get((vendor, code))
        return adef.name if adef is not None else None

    def type_of(self, name: str) -> str:
        """The dictionary data type of an attribute."""
        return self.attribute(name).type

    def encrypt_of(self, name: str) -> int:
        """The ``encrypt=`` flag: 1 User-Password style, 2 salt, 0 none."""
        return self.attribute(name).encrypt

    def value_of(self, attr_name: str, value_name: str) -> int:
        """The number of a named VALUE (e.g. Acct-Status-Type Start → 1)."""
        adef = self.attribute(attr_name)
        try:
            return adef.values[value_name]
        except KeyError:
            raise ValueError(f"{attr_name}: unknown value {value_name!r}") from None

    def value_name(self, attr_name: str, number: int) -> str | None:
        """The name of a VALUE number, or None."""
        return self.attribute(attr_name).names.get(number)

    def encode(self, name: str, value: Any) -> bytes:
        """The full wire attribute for name=value; a VSA is wrapped in type 26."""
        adef = self.attribute(name)
        raw = self._encode_value(adef, value)
        if adef.vendor:
            return encode_vsa(adef.vendor, adef.code, raw)
        return encode_attr(adef.code, raw)

    def encode_value(self, name: str, value: Any) -> bytes:
        """Just the value octets of name=value."""
        return self._encode_value(self.attribute(name), value)

    def _encode_value(self, adef: AttributeDef, value: Any) -> bytes:
        t = adef.type
        name = adef.name
        if t in _INT_TYPES:
            return self._encode_int(adef, value)
        if t == "string":
            if isinstance(value, str):
                raw = value.encode("utf-8")
            elif isinstance(value, (bytes, bytearray)):
                raw = bytes(value)
            else:
                raise ValueError(f"{name}: expected str or bytes, got {type(value).__name__}")
        elif t in ("octets", "abinary"):
            if isinstance(value, (bytes, bytearray)):
                raw = bytes(value)
            elif isinstance(value, str) and value.startswith("0x"):
                try:
                    raw = bytes.fromhex(value[2:])
                except ValueError:
                    raise ValueError(f"{name}: bad hex value {value!r}") from None
            else:
                raise ValueError(f"{name}: expected bytes or a 0x hex string")
        elif t == "ipaddr":
            raw = _parse_ip(name, value, ipaddress.IPv4Address).packed
        elif t == "ipv6addr":
            raw = _parse_ip(name, value, ipaddress.IPv6Address).packed
        elif t == "ipv6prefix":
            raw = _encode_ipv6_prefix(name, value)
        elif t == "ifid":
            raw = _encode_ifid(name, value)
        elif t == "ether":
            raw = _encode_ether(name, value)
        else:
            raise ValueError(f"{name}: data type {t} is not supported")
        if len(raw) > 253:
            raise ValueError(f"{name}: value of {len(raw)} octets exceeds 253")
        return raw

    def _encode_int(self, adef: AttributeDef, value: Any) -> bytes:
        size, signed = _INT_TYPES[adef.type]
        if isinstance(value, str):
            number = adef.values.get(value)
            if number is None:
                try:
                    number = int(value, 0)
                except ValueError:
                    raise ValueError(f"{adef.name}: unknown value {value!r}") from None
        elif isinstance(value, datetime) and adef.type == "date":
            if value.tzinfo is None:
                raise ValueError(f"{adef.name}: datetime must be timezone-aware")
            number = int(value.timestamp())
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise ValueError(f"{adef.name}: expected int or value name, got {type(value).__name__}")
        bits = size * 8
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not low <= number <= high:
            raise ValueError(f"{adef.name}: {number} out of range {low}..{high}")
        return number.to_bytes(size, "big", signed=signed)

    def decode_value(self, name_or_key: str | int | tuple[int, int], raw: bytes) -> Any:
        """Decode value octets by the attribute's type.

        ``name_or_key`` is a name, a standard code, or (vendor, code).
        Integers come back as int, addresses and prefixes as str, strings as
        str (bytes if not UTF-8), octets as bytes. ValueError on bad lengths.
        """
        if isinstance(name_or_key, str):
            adef = self.attribute(name_or_key)
        else:
            key = (0, name_or_key) if isinstance(name_or_key, int) else name_or_key
            found = self._by_key.get(key)
            if found is None:
                raise ValueError(f"unknown RADIUS attribute {key!r}")
            adef = found
        t = adef.type
        n = len(raw)
        if t in _INT_TYPES:
            size, signed = _INT_TYPES[t]
            if n != size:
                raise ValueError(f"{adef.name}: {t} needs {size} octets, got {n}")
            return int.from_bytes(raw, "big", signed=signed)
        if t == "string":
            try:
                return bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                return bytes(raw)
        if t in ("octets", "abinary"):
            return bytes(raw)
        if t == "ipaddr":
            if n != 4:
                raise ValueError(f"{adef.name}: ipaddr needs 4 octets, got {n}")
            return str(ipaddress.IPv4Address(bytes(raw)))
        if t == "ipv6addr":
            if n != 16:
                raise ValueError(f"{adef.name}: ipv6addr needs 16 octets, got {n}")
            return str(ipaddress.IPv6Address(bytes(raw)))
        if t == "ipv6prefix":
            return _decode_ipv6_prefix(adef.name, bytes(raw))
        if t == "ifid":
            if n != 8:
                raise ValueError(f"{adef.name}: ifid needs 8 octets, got {n}")
            return ":".join(f"{int.from_bytes(raw[i:i + 2], 'big'):x}" for i in range(0, 8, 2))
        if t == "ether":
            if n != 6:
                raise ValueError(f"{adef.name}: ether needs 6 octets, got {n}")
            return ":".join(f"{b:02x}" for b in raw)
        raise ValueError(f"{adef.name}: data type {t} is not supported")


def _parse_ip(name: str, value: Any, cls: type[Any]) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected an address string, got {type(value).__name__}")
    try:
        return cls(value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _encode_ipv6_prefix(name: str, value: Any) -> bytes:
    """RFC 3162 section 2.3: reserved, prefix length, the full 16-octet prefix."""
    try:
        if isinstance(value, ipaddress.IPv6Network):
            net = value
        elif isinstance(value, str):
            net = ipaddress.IPv6Network(value, strict=False)
        else:
            raise ValueError(f"expected a prefix string, got {type(value).__name__}")
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    return bytes((0, net.prefixlen)) + net.network_address.packed


def _decode_ipv6_prefix(name: str, raw: bytes) -> str:
    n = len(raw)
    if not 2 <= n <= 18:
        raise ValueError(f"{name}: ipv6prefix needs 2..18 octets, got {n}")
    plen = raw[1]
    if plen > 128 or (plen + 7) // 8 > n - 2:
        raise ValueError(f"{name}: prefix length {plen} does not fit {n - 2} octets")
    addr = ipaddress.IPv6Address(raw[2:] + bytes(18 - n))
    return str(ipaddress.IPv6Network((addr, plen), strict=False))


def _encode_ifid(name: str, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)) and len(value) == 8:
        return bytes(value)
    if isinstance(value, str):
        groups = value.split(":")
        try:
            if len(groups) == 4:
                return b"".join(int(g, 16).to_bytes(2, "big") for g in groups)
        except (ValueError, OverflowError):
            pass
    raise ValueError(f"{name}: expected an interface id like 'a:b:c:d' or 8 octets")


def _encode_ether(name: str, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)) and len(value) == 6:
        return bytes(value)
    if isinstance(value, str):
        parts = value.replace("-", ":").split(":")
        try:
            if len(parts) == 6:
                return bytes(int(p, 16) for p in parts)
        except ValueError:
            pass
    raise ValueError(f"{name}: expected a MAC address like 'aa:bb:cc:dd:ee:ff'")
