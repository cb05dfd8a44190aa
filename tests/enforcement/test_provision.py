"""Provisioning a router for aaad, against the fake RouterOS API."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from aaad.nas import Nas
from aaad.view.model import Profile
from enforcement import provision, routeros
from enforcement.provision import Ahead, Command, Fetch, ProvisionSettings, Prune, Step
from enforcement.routeros import RouterAccess, Timeouts
from tests.fake_routeros import FakeRouterOS

SETTINGS = ProvisionSettings(radius_address="192.0.2.10", public_url="https://portal.example.net",
                             walled_garden_list="suspended")
GOLD = Profile(1, 1, "gold", rate_limit="10M/10M", session_timeout=3600, pool="pool-gold")
SILVER = Profile(2, 1, "silver", rate_limit="5M/5M", address_list="silver-users")
TIMEOUTS = Timeouts(connect=2.0, read=5.0, call=30.0)


def nas(coa_port: int = 3799) -> Nas:
    return Nas(1, 1, "r1", "127.0.0.1", b"s3cret", "mikrotik", coa_port, True,
               "127.0.0.1", None, "admin", b"pw")


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="pw") as f:
        yield f


def access(fake: FakeRouterOS) -> RouterAccess:
    return RouterAccess("127.0.0.1", fake.port, "admin", "pw")


def steps(profiles: list[Profile] | None = None, coa_port: int = 3799) -> list[Step | Prune | Fetch | Ahead]:
    return provision.plan(nas(coa_port), "acme", [GOLD, SILVER] if profiles is None else profiles, SETTINGS)


def by(table: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    (row,) = [r for r in table if r.get(key) == value]
    return row


def test_provision_twice_second_run_changes_nothing(fake: FakeRouterOS) -> None:
    """The first run configures everything; the second reads and sends no add, set or remove."""
    first = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert first.ok and first.commands
    assert {s.command for s in fake.writes()} >= {"/radius/add", "/radius/incoming/set", "/ppp/aaa/set",
                                                 "/ppp/profile/add", "/ip/hotspot/user/profile/add",
                                                 "/ip/firewall/filter/add", "/ip/firewall/nat/add",
                                                 "/ip/proxy/set", "/ip/proxy/access/add"}
    fake.clear_received()
    second = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert second.ok and second.commands == []
    assert fake.writes() == []
    assert any(c.endswith("/print") for c in fake.commands())


def test_provisioned_state(fake: FakeRouterOS) -> None:
    """The router ends up with the RADIUS client, CoA, PPP AAA, profiles and walled garden."""
    routeros.apply(access(fake), steps(coa_port=3800), TIMEOUTS)
    radius = by(fake.table("/radius"), "comment", "aaad")
    assert radius == {".id": radius[".id"], "comment": "aaad", "service": "ppp,hotspot", "address": "192.0.2.10",
                      "secret": "s3cret", "authentication-port": "1812", "accounting-port": "1813"}
    assert fake.single("/radius/incoming") == {"accept": "true", "port": "3800", "vrf": "main"}
    aaa = fake.single("/ppp/aaa")
    assert (aaa["use-radius"], aaa["accounting"], aaa["interim-update"]) == ("true", "true", "5m")
    gold = by(fake.table("/ppp/profile"), "name", "aaad-gold")
    assert (gold["rate-limit"], gold["session-timeout"], gold["remote-address"]) == ("10M/10M", "1h", "pool-gold")
    silver = by(fake.table("/ip/hotspot/user/profile"), "name", "aaad-silver")
    assert (silver["rate-limit"], silver["address-list"]) == ("5M/5M", "silver-users")
    assert "session-timeout" not in silver
    rules = {r["comment"]: r for r in fake.table("/ip/firewall/filter")}
    assert rules["aaad: walled garden: DNS (udp)"]["src-address-list"] == "suspended"
    assert rules["aaad: walled garden: portal"]["dst-address-list"] == "aaad-portal"
    assert rules["aaad: walled garden: drop the rest"]["action"] == "drop"
    assert [r["comment"] for r in fake.table("/ip/firewall/filter")][-1] == "aaad: walled garden: drop the rest"
    nat = by(fake.table("/ip/firewall/nat"), "comment", "aaad: walled garden: web to the suspension page")
    assert (nat["action"], nat["to-ports"], nat["dst-port"], nat["dst-address-list"]) == (
        "redirect", "8080", "80", "!aaad-portal")
    assert by(fake.table("/ip/firewall/address-list"), "list", "aaad-portal")["address"] == "portal.example.net"
    assert fake.single("/ip/proxy")["enabled"] == "true"
    access_rule = by(fake.table("/ip/proxy/access"), "comment", "aaad: walled garden: suspension page")
    assert access_rule["redirect-to"] == "https://portal.example.net/acme/portal/suspended"
    assert access_rule["action"] == "deny"


def test_dry_run_reads_and_prints_what_it_would_send(fake: FakeRouterOS) -> None:
    """A dry run sends only prints and lists the writes in RouterOS terminal syntax, secret masked."""
    result = routeros.apply(access(fake), steps(), TIMEOUTS, dry_run=True)
    assert fake.writes() == []
    lines = result.cli()
    assert lines[:4] == [
        "/radius add comment=aaad service=ppp,hotspot address=192.0.2.10 secret=******** "
        "authentication-port=1812 accounting-port=1813",
        "/radius incoming set accept=yes",
        "/ppp aaa set use-radius=yes interim-update=5m",
        "/ppp profile add name=aaad-gold rate-limit=10M/10M session-timeout=1h remote-address=pool-gold",
    ]
    assert ('/ip firewall filter add comment="aaad: walled garden: drop the rest" chain=forward '
            "src-address-list=suspended action=drop") in lines
    assert ("/ip proxy access add comment=\"aaad: walled garden: suspension page\" action=deny "
            "redirect-to=https://portal.example.net/acme/portal/suspended") in lines
    assert result.commands[0].cli(show_secrets=True).count("secret=s3cret") == 1


def test_dry_run_after_a_change_lists_only_the_change(fake: FakeRouterOS) -> None:
    """On a provisioned router, a dry run shows just the differing attribute, found by name."""
    routeros.apply(access(fake), steps(), TIMEOUTS)
    faster = Profile(1, 1, "gold", rate_limit="20M/20M", session_timeout=3600, pool="pool-gold")
    result = routeros.apply(access(fake), steps([faster, SILVER]), TIMEOUTS, dry_run=True)
    assert result.cli() == ['/ppp profile set [find name=aaad-gold] rate-limit=20M/20M',
                            '/ip hotspot user profile set [find name=aaad-gold] rate-limit=20M/20M']


def test_drifted_router_is_set_back(fake: FakeRouterOS) -> None:
    """Changed or duplicated records are set back and extra copies removed; nothing else is touched."""
    routeros.apply(access(fake), steps(), TIMEOUTS)
    rid = by(fake.table("/radius"), "comment", "aaad")[".id"]
    fake.seed("/radius", comment="aaad", address="10.9.9.9", secret="x", service="ppp")
    with fake.state.lock:
        by(fake.state.tables["/radius"], ".id", rid)["secret"] = "changed"
        fake.state.singles["/ppp/aaa"]["use-radius"] = "false"
    fake.clear_received()
    result = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert [c.cli(show_secrets=True) for c in result.commands] == [
        "/radius set [find comment=aaad] secret=s3cret",
        "/radius remove [find comment=aaad]",
        "/ppp aaa set use-radius=yes",
    ]
    assert [r[".id"] for r in fake.table("/radius")] == [rid]


def test_profile_sync_updates_adds_and_prunes(fake: FakeRouterOS) -> None:
    """A profile change updates both router profiles, a new one is added, a deleted one removed;
    the operator's own profiles stay."""
    routeros.apply(access(fake), steps(), TIMEOUTS)
    fake.seed("/ppp/profile", name="operator-own")
    bronze = Profile(3, 1, "bronze", rate_limit="1M/1M")
    gold_no_timeout = Profile(1, 1, "gold", rate_limit="10M/10M", pool="pool-gold")
    fake.clear_received()
    result = routeros.apply(access(fake), provision.profile_steps([gold_no_timeout, bronze]), TIMEOUTS)
    assert result.ok
    assert sorted(c.cli() for c in result.commands) == sorted([
        "/ppp profile unset [find name=aaad-gold] value-name=session-timeout",
        "/ip hotspot user profile unset [find name=aaad-gold] value-name=session-timeout",
        "/ppp profile add name=aaad-bronze rate-limit=1M/1M",
        "/ip hotspot user profile add name=aaad-bronze rate-limit=1M/1M",
        "/ppp profile remove [find name=aaad-silver]",
        "/ip hotspot user profile remove [find name=aaad-silver]",
    ])
    assert [r["name"] for r in fake.table("/ppp/profile")] == [
        "default", "default-encryption", "aaad-gold", "operator-own", "aaad-bronze"]
    assert "session-timeout" not in by(fake.table("/ppp/profile"), "name", "aaad-gold")
    fake.clear_received()
    assert routeros.apply(access(fake), provision.profile_steps([gold_no_timeout, bronze]), TIMEOUTS).commands == []
    assert fake.writes() == []


WG = "aaad: walled garden: "
WG_FILTER = [WG + c for c in ("DNS (udp)", "DNS (tcp)", "portal", "web proxy", "drop the rest")]


def operator_firewall(fake: FakeRouterOS) -> None:
    """A router's own rules, as RouterOS's default configuration and an operator leave them: the
    last filter rule would accept a suspended login's traffic if the walled garden came after it."""
    fake.seed("/ip/firewall/filter", chain="forward", action="accept", connection_state="established,related",
              comment="defconf: accept established,related")
    fake.seed("/ip/firewall/filter", chain="forward", action="drop", connection_state="invalid",
              comment="defconf: drop invalid")
    fake.seed("/ip/firewall/filter", chain="forward", action="accept", src_address="10.0.0.0/8",
              comment="operator: customers out")
    fake.seed("/ip/firewall/nat", chain="srcnat", action="masquerade", out_interface="ether1",
              comment="defconf: masquerade")


def comments(fake: FakeRouterOS, menu: str) -> list[str]:
    return [r.get("comment", "") for r in fake.table(menu)]


def test_walled_garden_goes_above_the_operators_rules(fake: FakeRouterOS) -> None:
    """On a router with its own firewall, aaad's rules are added above the first of the operator's
    (place-before), in their order, in the filter and the NAT tables; a second run sends nothing."""
    operator_firewall(fake)
    first_filter = fake.table("/ip/firewall/filter")[0][".id"]
    first_nat = fake.table("/ip/firewall/nat")[0][".id"]
    result = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert result.ok
    assert comments(fake, "/ip/firewall/filter") == [
        *WG_FILTER, "defconf: accept established,related", "defconf: drop invalid", "operator: customers out"]
    assert comments(fake, "/ip/firewall/nat") == [WG + "web to the suspension page", "defconf: masquerade"]
    adds = [c for c in result.commands if c.action == "add" and c.menu.startswith("/ip/firewall/")
            and c.menu != "/ip/firewall/address-list"]
    assert [c.attrs["place-before"] for c in adds] == [first_filter] * 5 + [first_nat]
    fake.clear_received()
    assert routeros.apply(access(fake), steps(), TIMEOUTS).commands == []
    assert fake.writes() == []


def test_walled_garden_found_below_a_rule_is_moved_back_up(fake: FakeRouterOS) -> None:
    """A rule put above aaad's after provisioning (by hand, or by a script that appends and then
    moves) is overtaken: aaad's rules are moved above it in their order, nothing else changes."""
    routeros.apply(access(fake), steps(), TIMEOUTS)
    top = fake.seed("/ip/firewall/filter", chain="forward", action="accept", comment="operator: added later")
    with fake.state.lock:
        table = fake.state.tables["/ip/firewall/filter"]
        table.insert(0, table.pop())
    assert comments(fake, "/ip/firewall/filter") == ["operator: added later", *WG_FILTER]
    fake.clear_received()
    dry = routeros.apply(access(fake), steps(), TIMEOUTS, dry_run=True)
    assert fake.writes() == []
    assert [line.split(" numbers=")[0] for line in dry.cli()] == ["/ip firewall filter move"] * 5
    assert dry.cli()[0].endswith(f" destination={top}")
    result = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert result.ok and [c.action for c in result.commands] == ["move"] * 5
    assert comments(fake, "/ip/firewall/filter") == [*WG_FILTER, "operator: added later"]
    fake.clear_received()
    assert routeros.apply(access(fake), steps(), TIMEOUTS).commands == []


def test_dry_run_beside_the_operators_rules_shows_where_they_go(fake: FakeRouterOS) -> None:
    """A dry run reads the operator's rules and prints the adds with place-before, sending nothing."""
    operator_firewall(fake)
    first_filter = fake.table("/ip/firewall/filter")[0][".id"]
    result = routeros.apply(access(fake), steps(), TIMEOUTS, dry_run=True)
    assert fake.writes() == []
    assert ('/ip firewall filter add comment="aaad: walled garden: drop the rest" chain=forward '
            f"src-address-list=suspended action=drop place-before={first_filter}") in result.cli()


def test_refused_command_is_recorded_and_the_rest_applied(fake: FakeRouterOS) -> None:
    """A trap on one command is an error in the result; the following steps still run."""
    fake.traps["/ppp/profile/add"] = "input does not match any value of remote-address"
    result = routeros.apply(access(fake), steps(), TIMEOUTS)
    assert not result.ok
    assert len(result.errors) == 2 and "remote-address" in result.errors[0]
    assert by(fake.table("/ip/hotspot/user/profile"), "name", "aaad-gold")["rate-limit"] == "10M/10M"
    assert fake.table("/ip/proxy/access")


def test_script_without_a_router() -> None:
    """The offline script lists every record as add (tables) or set (single menus)."""
    lines = [c.cli() for c in provision.script(steps())]
    assert lines[1] == "/radius incoming set accept=yes port=3799"
    assert "/ip proxy set enabled=yes port=8080" in lines
    assert not any("remove" in line for line in lines)


def test_http_public_url_redirect_and_custom_list() -> None:
    """With an http URL the proxy redirect drops the scheme; the address list follows the setting."""
    settings = ProvisionSettings("192.0.2.10", "http://10.0.0.1:8080/aaad", walled_garden_list="blocked",
                                 proxy_port=3128)
    wg = {s.match.get("comment"): s for s in provision.walled_garden_steps("acme", settings)}
    assert wg["aaad: walled garden: suspension page"].attrs["redirect-to"] == "10.0.0.1:8080/aaad/acme/portal/suspended"
    assert wg["aaad: portal"].attrs["address"] == "10.0.0.1"
    assert wg["aaad: walled garden: web to the suspension page"].attrs["src-address-list"] == "blocked"
    assert wg["aaad: walled garden: web to the suspension page"].attrs["to-ports"] == "3128"


@pytest.mark.parametrize(("key", "a", "b", "equal"), [
    ("use-radius", "yes", True, True),
    ("use-radius", "true", "yes", True),
    ("use-radius", "no", "true", False),
    ("interim-update", "5m", "00:05:00", True),
    ("interim-update", "300", "5m", True),
    ("session-timeout", "1h", "3600", True),
    ("service", "ppp,hotspot", "hotspot,ppp", True),
    ("rate-limit", "10M/10M", "10M/20M", False),
    ("port", 3799, "3799", True),
])
def test_value_comparison(key: str, a: object, b: object, equal: bool) -> None:
    """Values compare as RouterOS means them: booleans, durations, sets, numbers."""
    assert (provision.normalise(key, a) == provision.normalise(key, b)) is equal


def test_durations_and_quoting() -> None:
    """Durations are written the RouterOS way; values with spaces or quotes are quoted."""
    assert [provision.duration(s) for s in (0, 59, 300, 3600, 90061, 604800)] == [
        "0s", "59s", "5m", "1h", "1d1h1m1s", "1w"]
    cmd = Command("add", "/ip/firewall/filter", {"comment": 'say "hi" $x', "chain": "forward"})
    assert cmd.cli() == '/ip firewall filter add comment="say \\"hi\\" \\$x" chain=forward'
    assert cmd.words() == ["/ip/firewall/filter/add", '=comment=say "hi" $x', "=chain=forward"]


def test_default_radius_address_from_the_config() -> None:
    """[radius] address when it is one address, else the IP of [web] public_url, else None."""
    from types import SimpleNamespace

    from enforcement.provision import default_radius_address

    def conf(address: str, url: str) -> SimpleNamespace:
        return SimpleNamespace(radius=SimpleNamespace(address=address), web=SimpleNamespace(public_url=url))
    assert default_radius_address(conf("10.0.0.1", "")) == "10.0.0.1"
    assert default_radius_address(conf("0.0.0.0", "https://192.0.2.7:8443/")) == "192.0.2.7"
    assert default_radius_address(conf("::", "https://portal.example.net")) is None
    assert default_radius_address(conf("0.0.0.0", "")) is None
