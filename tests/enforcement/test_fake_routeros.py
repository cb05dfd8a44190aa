"""The fake RouterOS API server, checked with the real librouteros client."""
from __future__ import annotations

import ssl
from collections.abc import Iterator

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, LibRouterosError, TrapError
from librouteros.protocol import decode_length as lib_decode_length
from librouteros.protocol import encode_length as lib_encode_length
from librouteros.query import Key

from tests.fake_routeros import (
    FakeRouterOS,
    RawClient,
    WireError,
    closed_port,
    decode_length,
    encode_length,
    length_size,
)

BOUNDARIES = [0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 0xFFFFFFF, 0x10000000, 0xFFFFFFFF]


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="secret") as f:
        yield f


def connect(fake: FakeRouterOS, password: str = "secret", timeout: float = 5.0) -> librouteros.Api:
    return librouteros.connect("127.0.0.1", "admin", password, port=fake.port, timeout=timeout)


# -- the length codec -------------------------------------------------------------------


@pytest.mark.parametrize("n", BOUNDARIES)
def test_length_roundtrip_at_boundaries(n: int) -> None:
    """Every length encodes in the fewest bytes its range allows and decodes back."""
    raw = encode_length(n)
    expected = 1 if n < 0x80 else 2 if n < 0x4000 else 3 if n < 0x200000 else 4 if n < 0x10000000 else 5
    assert len(raw) == expected
    assert length_size(raw[0]) == expected
    assert decode_length(raw) == n


@pytest.mark.parametrize("n", [b for b in BOUNDARIES if b < 0x10000000])
def test_length_agrees_with_librouteros(n: int) -> None:
    """Up to 4 bytes (all librouteros knows), the fake's bytes are librouteros's bytes."""
    assert encode_length(n) == lib_encode_length(n)
    assert lib_decode_length(encode_length(n)) == n


def test_length_five_byte_form_and_reserved_bytes() -> None:
    """0x10000000 and above take 0xF0 plus four bytes; 0xF8 and up are reserved."""
    assert encode_length(0x10000000) == b"\xf0\x10\x00\x00\x00"
    with pytest.raises(WireError):
        length_size(0xF8)
    with pytest.raises(WireError):
        encode_length(0x100000000)


@pytest.mark.parametrize("n", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
def test_long_words_over_the_wire(fake: FakeRouterOS, n: int) -> None:
    """A word of each boundary length goes to the fake and comes back intact through librouteros."""
    api = connect(fake)
    prefix = "=comment="
    comment = "x" * (n - len(prefix))
    rid = api.path("ip", "firewall", "address-list").add(list="big", address="10.0.0.1", comment=comment)
    rows = list(api.path("ip", "firewall", "address-list").select(Key("comment")).where(Key(".id") == rid))
    assert rows == [{"comment": comment}]
    api.close()


# -- login ---------------------------------------------------------------------------------


def test_login_ok_and_identity(fake: FakeRouterOS) -> None:
    """The plain login succeeds and a fresh RouterOS 7's identity and resource are there."""
    api = connect(fake)
    (identity,) = api("/system/identity/print")
    (resource,) = api("/system/resource/print")
    assert identity["name"] == "MikroTik"
    assert resource["version"].startswith("7.") and resource["board-name"] == "RB5009UG+S+"
    assert fake.received[0].words == ("/login", "=name=admin", "=password=secret")
    api.close()


def test_login_bad_password_traps_and_closes(fake: FakeRouterOS) -> None:
    """A wrong password gets the RouterOS trap, and the connection is closed after it."""
    with pytest.raises(TrapError, match=r"invalid user name or password \(6\)"):
        connect(fake, password="wrong")
    c = RawClient("127.0.0.1", fake.port)
    c.send("/login", "=name=admin", "=password=wrong")
    assert list(c.until_done()) == [["!trap", "=message=invalid user name or password (6)"], ["!done"]]
    with pytest.raises(EOFError):
        c.read()
    c.close()


def test_login_fatal_variant_and_forced_failure(fake: FakeRouterOS) -> None:
    """Made so, a bad login ends in !fatal; login_fails refuses even the right password."""
    fake.fatal_on_bad_login = True
    with pytest.raises(FatalError):
        connect(fake, password="wrong")
    fake.login_fails = True
    with pytest.raises(FatalError):
        connect(fake)


def test_command_before_login_is_fatal(fake: FakeRouterOS) -> None:
    """Nothing but /login is answered before logging in."""
    c = RawClient("127.0.0.1", fake.port)
    c.send("/system/identity/print")
    assert c.read() == ["!fatal", "not logged in"]
    c.close()


# -- menus -----------------------------------------------------------------------------


def test_print_with_query_and_proplist(fake: FakeRouterOS) -> None:
    """Query words select records (=, -, #!, #|) and .proplist picks the properties."""
    fake.seed("/ppp/active", name="alice", address="10.0.0.2", service="pppoe")
    fake.seed("/ppp/active", name="bob", address="10.0.0.3", service="pppoe")
    fake.seed("/ppp/active", name="carol", address="10.0.0.4", service="l2tp")
    api = connect(fake)
    active = api.path("ppp", "active")
    name, service = Key("name"), Key("service")
    assert [r["name"] for r in active.select(name).where(name == "bob")] == ["bob"]
    assert sorted(r["name"] for r in active.select(name).where(service != "pppoe")) == ["carol"]
    assert sorted(r["name"] for r in active.select(name).where(name.In("alice", "carol"))) == ["alice", "carol"]
    assert list(active.select(name, Key("address")).where(name == "alice")) == [
        {"name": "alice", "address": "10.0.0.2"}]
    assert list(api.rawCmd("/ppp/active/print", "?name=carol", "=.proplist=.id")) == [{".id": "*3"}]
    assert list(api.rawCmd("/ppp/active/print", "?-comment", "?service=l2tp")) != []
    api.close()


def test_add_set_remove(fake: FakeRouterOS) -> None:
    """add returns the new .id (*1, *2, …), set changes, remove deletes; booleans read back as true/false."""
    api = connect(fake)
    profiles = api.path("ppp", "profile")
    rid = profiles.add(name="gold", **{"rate-limit": "10M/10M", "only-one": "yes"})
    assert rid == "*1"
    assert profiles.add(name="silver") == "*2"
    profiles.update(**{".id": rid, "rate-limit": "20M/20M"})
    (gold,) = [r for r in profiles if r["name"] == "gold"]
    assert gold["rate-limit"] == "20M/20M" and gold["only-one"] is True
    profiles.remove(rid)
    assert [r["name"] for r in fake.table("/ppp/profile")] == ["default", "default-encryption", "silver"]
    with pytest.raises(TrapError, match="entry already exists"):
        profiles.add(name="silver")
    with pytest.raises(TrapError, match="no such item"):
        profiles.remove("*99")
    api.close()


def test_place_before_and_move(fake: FakeRouterOS) -> None:
    """add place-before=<.id> inserts above that item; move numbers=.. destination=.. puts the items, in
    the order given, above the destination, or at the end without one; unknown ids trap."""
    api = connect(fake)
    filt = api.path("ip", "firewall", "filter")
    a = filt.add(chain="forward", comment="a")
    b = filt.add(chain="forward", comment="b")
    c = filt.add(chain="forward", comment="c", **{"place-before": a})

    def order() -> list[str]:
        return [r["comment"] for r in fake.table("/ip/firewall/filter")]
    assert order() == ["c", "a", "b"]
    assert "place-before" not in fake.table("/ip/firewall/filter")[0]
    list(api.rawCmd("/ip/firewall/filter/move", f"=numbers={b},{a}", f"=destination={c}"))
    assert order() == ["b", "a", "c"]
    list(api.rawCmd("/ip/firewall/filter/move", f"=numbers={b}"))
    assert order() == ["a", "c", "b"]
    with pytest.raises(TrapError, match="no such item"):
        filt.add(chain="forward", **{"place-before": "*99"})
    with pytest.raises(TrapError, match="no such item"):
        list(api.rawCmd("/ip/firewall/filter/move", f"=numbers={a}", "=destination=*99"))
    assert order() == ["a", "c", "b"]
    api.close()


def test_single_record_menus(fake: FakeRouterOS) -> None:
    """/radius/incoming and /ppp/aaa print one record and set without an .id."""
    api = connect(fake)
    assert list(api("/radius/incoming/print")) == [{"accept": False, "port": 3799, "vrf": "main"}]
    tuple(api("/radius/incoming/set", accept=True, port=3800))
    tuple(api("/ppp/aaa/set", **{"use-radius": True, "interim-update": "5m"}))
    assert fake.single("/radius/incoming")["accept"] == "true"
    assert fake.single("/ppp/aaa")["interim-update"] == "5m"
    api.close()


def test_unknown_menu_and_trap_injection(fake: FakeRouterOS) -> None:
    """Unknown menus trap like RouterOS; a command made to trap does."""
    api = connect(fake)
    with pytest.raises(TrapError, match="no such command prefix"):
        tuple(api("/no/such/print"))
    fake.traps["/ppp/profile/add"] = "failure: out of memory"
    with pytest.raises(TrapError, match="out of memory"):
        api.path("ppp", "profile").add(name="x")
    api.close()


def test_tag_is_echoed_on_every_reply(fake: FakeRouterOS) -> None:
    """A .tag on a command comes back on each of its !re and on its !done."""
    fake.seed("/ppp/active", name="alice")
    fake.seed("/ppp/active", name="bob")
    c = RawClient("127.0.0.1", fake.port)
    c.send("/login", "=name=admin", "=password=secret", ".tag=1")
    assert c.read() == ["!done", ".tag=1"]
    c.send("/ppp/active/print", "=.proplist=name", ".tag=7")
    assert list(c.until_done()) == [["!re", "=name=alice", ".tag=7"], ["!re", "=name=bob", ".tag=7"],
                                    ["!done", ".tag=7"]]
    c.send("/nope/print", ".tag=8")
    assert list(c.until_done()) == [["!trap", "=message=no such command prefix", "=category=0", ".tag=8"],
                                    ["!done", ".tag=8"]]
    c.send("/quit")
    assert c.read() == ["!fatal", "session terminated on request"]
    c.close()


def test_records_sentences_per_connection(fake: FakeRouterOS) -> None:
    """Each sentence is recorded with its connection number, in arrival order."""
    for _ in range(2):
        api = connect(fake)
        tuple(api("/system/identity/print"))
        api.close()
    assert [(s.conn, s.command) for s in fake.received] == [
        (1, "/login"), (1, "/system/identity/print"), (2, "/login"), (2, "/system/identity/print")]
    assert fake.received[0].at <= fake.received[-1].at


# -- slow and dead -------------------------------------------------------------------------


def test_slow_router_answers_late(fake: FakeRouterOS) -> None:
    """With a delay, replies still come, later than the delay after the command."""
    fake.delay = 0.2
    api = connect(fake)
    tuple(api("/system/identity/print"))
    api.close()
    first, second = fake.received[0], fake.received[1]
    assert second.at - first.at >= 0.2


def test_slow_router_beyond_the_socket_timeout(fake: FakeRouterOS) -> None:
    """A delay longer than the client's socket timeout makes the client time out."""
    fake.delay = 2.0
    with pytest.raises(TimeoutError):
        connect(fake, timeout=0.2)


def test_silent_router_accepts_and_never_answers(fake: FakeRouterOS) -> None:
    """A dead router takes the connection and the login, and says nothing."""
    fake.mode = "silent"
    with pytest.raises(TimeoutError):
        connect(fake, timeout=0.3)
    assert fake.commands() == ["/login"]


def test_reset_and_refused() -> None:
    """A router that resets connections, and a port nobody listens on, fail at once."""
    with FakeRouterOS() as f:
        f.mode = "reset"
        with pytest.raises((ConnectionClosed, ConnectionResetError)):
            librouteros.connect("127.0.0.1", "admin", "", port=f.port, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        librouteros.connect("127.0.0.1", "admin", "", port=closed_port(), timeout=2)


def test_tls_api_ssl() -> None:
    """With tls, the fake speaks the API inside TLS with a self-signed certificate."""
    with FakeRouterOS(tls=True) as f:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        api = librouteros.connect("127.0.0.1", "admin", "", port=f.port, timeout=5, ssl_wrapper=ctx.wrap_socket)
        (identity,) = api("/system/identity/print")
        assert identity["name"] == "MikroTik"
        api.close()
        with pytest.raises((OSError, LibRouterosError)):  # plain API words are not a TLS handshake
            librouteros.connect("127.0.0.1", "admin", "", port=f.port, timeout=2)
