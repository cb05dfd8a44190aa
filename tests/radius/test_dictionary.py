"""Tests for the shipped dictionary and the RadiusDictionary tables."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyrad.dictionary import Dictionary

from aaad.radius import codec
from aaad.radius.dictionary import ENV_VAR, RadiusDictionary, load_dictionary

SHIPPED = Path(__file__).resolve().parents[2] / "conf" / "dictionary" / "dictionary"


@pytest.fixture(scope="module")
def rd() -> RadiusDictionary:
    """The shipped dictionary, loaded once."""
    return load_dictionary()


def test_pyrad_loads_shipped_dictionary_without_skipping() -> None:
    """pyrad parses every shipped file and skips no attribute."""
    d = Dictionary(str(SHIPPED))
    assert d.skipped_attributes == set()
    assert len(d) > 150


@pytest.mark.parametrize(("name", "key"), [
    ("User-Name", (0, 1)),
    ("User-Password", (0, 2)),
    ("CHAP-Password", (0, 3)),
    ("NAS-IP-Address", (0, 4)),
    ("Proxy-State", (0, 33)),
    ("Acct-Status-Type", (0, 40)),
    ("Acct-Input-Gigawords", (0, 52)),
    ("Acct-Output-Gigawords", (0, 53)),
    ("Event-Timestamp", (0, 55)),
    ("CHAP-Challenge", (0, 60)),
    ("EAP-Message", (0, 79)),
    ("Message-Authenticator", (0, 80)),
    ("Acct-Interim-Interval", (0, 85)),
    ("NAS-Port-Id", (0, 87)),
    ("Framed-Pool", (0, 88)),
    ("Framed-IPv6-Prefix", (0, 97)),
    ("Error-Cause", (0, 101)),
    ("Delegated-IPv6-Prefix", (0, 123)),
    ("MS-CHAP-Response", (311, 1)),
    ("MS-CHAP-Error", (311, 2)),
    ("MS-MPPE-Encryption-Policy", (311, 7)),
    ("MS-MPPE-Encryption-Types", (311, 8)),
    ("MS-CHAP-Challenge", (311, 11)),
    ("MS-CHAP-MPPE-Keys", (311, 12)),
    ("MS-MPPE-Send-Key", (311, 16)),
    ("MS-MPPE-Recv-Key", (311, 17)),
    ("MS-CHAP2-Response", (311, 25)),
    ("MS-CHAP2-Success", (311, 26)),
    ("Mikrotik-Recv-Limit", (14988, 1)),
    ("Mikrotik-Group", (14988, 3)),
    ("Mikrotik-Rate-Limit", (14988, 8)),
    ("Mikrotik-Host-IP", (14988, 10)),
    ("Mikrotik-Address-List", (14988, 19)),
    ("Mikrotik-Delegated-IPv6-Pool", (14988, 22)),
    ("Mikrotik-DHCP-Option-Param-STR2", (14988, 25)),
    ("Mikrotik-Wireless-VLANIDtype", (14988, 27)),
    ("Mikrotik-Switching-Filter", (14988, 30)),
])
def test_key_names_resolve(rd: RadiusDictionary, name: str, key: tuple[int, int]) -> None:
    """Names the server relies on map to their (vendor, code) and back."""
    assert rd.attr_key(name) == key
    assert rd.name_of(*key) == name


def test_status_server_is_not_an_attribute(rd: RadiusDictionary) -> None:
    """RFC 5997 Status-Server is a packet code, so no attribute carries its name."""
    assert "Status-Server" not in rd


def test_vendor_ids(rd: RadiusDictionary) -> None:
    """Both shipped vendors are known standard-format vendors."""
    assert {311, 14988} <= rd.vendor_ids


@pytest.mark.parametrize(("attr", "value", "number"), [
    ("Acct-Status-Type", "Start", 1),
    ("Acct-Status-Type", "Stop", 2),
    ("Acct-Status-Type", "Interim-Update", 3),
    ("Acct-Status-Type", "Accounting-On", 7),
    ("Service-Type", "Framed-User", 2),
    ("Service-Type", "Authorize-Only", 17),
    ("Framed-Protocol", "PPP", 1),
    ("NAS-Port-Type", "Ethernet", 15),
    ("NAS-Port-Type", "Wireless-802.11", 19),
    ("NAS-Port-Type", "PPPoEoVLAN", 33),
    ("Acct-Terminate-Cause", "User-Request", 1),
    ("Acct-Terminate-Cause", "Admin-Reset", 6),
    ("Acct-Terminate-Cause", "Session-Timeout", 5),
    ("Error-Cause", "Session-Context-Not-Found", 503),
    ("Error-Cause", "Invalid-Attribute-Value", 407),
])
def test_value_of(rd: RadiusDictionary, attr: str, value: str, number: int) -> None:
    """Named VALUEs resolve to their numbers."""
    assert rd.value_of(attr, value) == number


def test_value_name_prefers_last_alias(rd: RadiusDictionary) -> None:
    """Acct-Status-Type 3 reads back as Interim-Update, not the older Alive alias."""
    assert rd.value_name("Acct-Status-Type", 3) == "Interim-Update"
    assert rd.value_of("Acct-Status-Type", "Alive") == 3


def test_unknown_names_raise_value_error(rd: RadiusDictionary) -> None:
    """Unknown attribute or value names fail with ValueError naming them."""
    with pytest.raises(ValueError, match="No-Such-Attr"):
        rd.encode("No-Such-Attr", 1)
    with pytest.raises(ValueError, match="Bogus"):
        rd.value_of("Service-Type", "Bogus")
    with pytest.raises(ValueError, match="Bogus"):
        rd.encode("Service-Type", "Bogus")
    assert rd.name_of(0, 254) is None


@pytest.mark.parametrize(("name", "value", "wire"), [
    ("User-Name", "alice", b"\x01\x07alice"),
    ("User-Name", b"\xffraw", b"\x01\x06\xffraw"),
    ("Class", b"\x00\x01", b"\x19\x04\x00\x01"),
    ("Class", "0x0a0b", b"\x19\x04\x0a\x0b"),
    ("Session-Timeout", 3600, b"\x1b\x06\x00\x00\x0e\x10"),
    ("Service-Type", "Framed-User", b"\x06\x06\x00\x00\x00\x02"),
    ("Framed-IP-Address", "10.1.2.3", b"\x08\x06\x0a\x01\x02\x03"),
    ("Framed-IP-Address", ipaddress.IPv4Address("10.1.2.3"), b"\x08\x06\x0a\x01\x02\x03"),
    ("Event-Timestamp", 1_700_000_000, b"\x37\x06" + (1_700_000_000).to_bytes(4, "big")),
    ("Event-Timestamp", datetime.fromtimestamp(1_700_000_000, UTC),
     b"\x37\x06" + (1_700_000_000).to_bytes(4, "big")),
    ("Framed-IPv6-Prefix", "2001:db8:1::/48",
     b"\x61\x14\x00\x30" + ipaddress.IPv6Address("2001:db8:1::").packed),
    ("NAS-IPv6-Address", "2001:db8::1", b"\x5f\x12" + ipaddress.IPv6Address("2001:db8::1").packed),
    ("Framed-Interface-Id", "1:2:3:4", b"\x60\x0a\x00\x01\x00\x02\x00\x03\x00\x04"),
    ("Mikrotik-Rate-Limit", "10M/20M", codec.encode_vsa(14988, 8, b"10M/20M")),
    ("Mikrotik-Recv-Limit", 5, codec.encode_vsa(14988, 1, b"\x00\x00\x00\x05")),
    ("MS-MPPE-Encryption-Policy", "Encryption-Required", codec.encode_vsa(311, 7, b"\x00\x00\x00\x02")),
])
def test_encode(rd: RadiusDictionary, name: str, value: object, wire: bytes) -> None:
    """Values of each data type encode to the exact wire attribute."""
    assert rd.encode(name, value) == wire


@pytest.mark.parametrize(("name", "value", "match"), [
    ("Session-Timeout", -1, "out of range"),
    ("Session-Timeout", 1 << 32, "out of range"),
    ("Session-Timeout", True, "expected int"),
    ("Session-Timeout", 1.5, "expected int"),
    ("User-Name", "x" * 254, "253"),
    ("Mikrotik-Rate-Limit", "x" * 248, "247"),
    ("Framed-IP-Address", "300.1.1.1", "Framed-IP-Address"),
    ("Framed-IP-Address", "2001:db8::1", "Framed-IP-Address"),
    ("Framed-IPv6-Prefix", "10.0.0.0/8", "Framed-IPv6-Prefix"),
    ("Class", 5, "expected bytes"),
    ("User-Name", 5, "expected str"),
    ("Event-Timestamp", datetime(2024, 1, 1), "timezone"),
])
def test_encode_rejects(rd: RadiusDictionary, name: str, value: object, match: str) -> None:
    """Out-of-range, overlong and mistyped values raise ValueError with a clear message."""
    with pytest.raises(ValueError, match=match):
        rd.encode(name, value)


@pytest.mark.parametrize(("key", "raw", "expected"), [
    ("User-Name", b"alice", "alice"),
    ("User-Name", b"\xff\xfe", b"\xff\xfe"),
    (1, b"bob", "bob"),
    ("Acct-Status-Type", b"\x00\x00\x00\x03", 3),
    ("NAS-IP-Address", b"\x0a\x00\x00\x01", "10.0.0.1"),
    ("Framed-IPv6-Prefix", b"\x00\x40" + bytes.fromhex("20010db8000000010000000000000000"), "2001:db8:0:1::/64"),
    ("Framed-IPv6-Prefix", b"\x00\x20\x20\x01\x0d\xb8", "2001:db8::/32"),
    ((14988, 8), b"1M/2M", "1M/2M"),
    ((311, 26), b"\x01S=AB", b"\x01S=AB"),
    ("Event-Timestamp", b"\x65\x53\xf1\x00", 0x6553F100),
])
def test_decode_value(rd: RadiusDictionary, key: object, raw: bytes, expected: object) -> None:
    """Raw values decode by the attribute's type, keyed by name, code or (vendor, code)."""
    assert rd.decode_value(key, raw) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "raw"), [
    ("Acct-Status-Type", b"\x00\x01"),
    ("NAS-IP-Address", b"\x0a\x00\x00"),
    ("Framed-IPv6-Prefix", b"\x00\x40\x20\x01"),
    ("Framed-IPv6-Prefix", b"\x00"),
    ((0, 254), b"x"),
])
def test_decode_value_rejects(rd: RadiusDictionary, key: object, raw: bytes) -> None:
    """Wrong lengths and unknown keys raise ValueError."""
    with pytest.raises(ValueError):
        rd.decode_value(key, raw)  # type: ignore[arg-type]


def test_encode_matches_pyrad(rd: RadiusDictionary) -> None:
    """For common attributes our wire bytes equal pyrad's encoding."""
    from pyrad.packet import Packet

    cases = {
        "User-Name": "alice",
        "Session-Timeout": 3600,
        "Framed-IP-Address": "10.9.8.7",
        "Framed-IPv6-Prefix": "2001:db8::/56",
        "Mikrotik-Rate-Limit": "2M/4M",
        "Mikrotik-Address-List": "suspended",
        "Acct-Interim-Interval": 300,
    }
    for name, value in cases.items():
        pkt = Packet(dict=rd.pyrad, authenticator=bytes(16))
        pkt.AddAttribute(name, value)
        assert rd.encode(name, value) == pkt._PktEncodeAttributes(), name


def test_encrypt_flags(rd: RadiusDictionary) -> None:
    """Attributes that need hiding are flagged, so callers know to hide them."""
    assert rd.encrypt_of("User-Password") == 1
    assert rd.encrypt_of("MS-MPPE-Send-Key") == 2
    assert rd.encrypt_of("User-Name") == 0


def test_env_var_overrides_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AAAD_DICTIONARY points load_dictionary at another file."""
    custom = tmp_path / "dictionary"
    custom.write_text(f"$INCLUDE {SHIPPED}\nATTRIBUTE\tAaad-Test\t250\tstring\n")
    monkeypatch.setenv(ENV_VAR, str(custom))
    rd = load_dictionary()
    assert rd.path == str(custom)
    assert rd.attr_key("Aaad-Test") == (0, 250)
    assert rd.attr_key("User-Name") == (0, 1)


def test_explicit_path(tmp_path: Path) -> None:
    """An explicit path wins, and a new vendor joins vendor_ids."""
    custom = tmp_path / "d"
    custom.write_text("VENDOR\tAcme\t9999\nBEGIN-VENDOR\tAcme\n"
                      "ATTRIBUTE\tAcme-Speed\t1\tinteger\nEND-VENDOR\tAcme\n")
    rd = load_dictionary(str(custom))
    assert rd.vendor_ids == frozenset({9999})
    assert rd.encode("Acme-Speed", 7) == codec.encode_vsa(9999, 1, b"\x00\x00\x00\x07")
