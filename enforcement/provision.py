"""What a MikroTik router needs to work with aaad, and applying it idempotently.

Planning is pure: from the NAS, the org, its profiles and a few settings,
:func:`plan` returns the desired configuration as a list of steps, each a
menu, the keys that find its record and the attributes it should have.
:func:`apply_steps` makes a router match them over a RouterOS API connection:
for each step it prints the matching records, adds the record if missing,
sets only the attributes that differ, and sends nothing when all is equal,
so a second run changes nothing.  With ``dry_run`` it reads the same way and
sends no writes: the result lists the commands it would have sent, which
:meth:`Command.cli` renders in RouterOS terminal syntax.

**What is provisioned** (``L`` is ``[radius] walled_garden_address_list``,
the list aaad's policy puts walled-garden logins in; ``P`` is the proxy port,
8080 by default; ``H`` the host of ``[web] public_url``)::

    /radius add service=ppp,hotspot address=<aaad> secret=<NAS secret>
        authentication-port=1812 accounting-port=1813 comment=aaad
    /radius incoming set accept=yes port=<NAS coa_port>
    /ppp aaa set use-radius=yes accounting=yes interim-update=5m
    /ppp profile add name=aaad-<profile> rate-limit=.. session-timeout=..
        remote-address=<pool> address-list=..           (one per profile)
    /ip hotspot user profile add name=aaad-<profile> rate-limit=..
        session-timeout=.. address-pool=<pool> address-list=..
    /ip firewall address-list add list=aaad-portal address=H comment="aaad: portal"
    /ip firewall filter add chain=forward src-address-list=L protocol=udp dst-port=53
        action=accept comment="aaad: walled garden: DNS (udp)"
    /ip firewall filter add ... protocol=tcp dst-port=53 ... "aaad: walled garden: DNS (tcp)"
    /ip firewall filter add chain=forward src-address-list=L dst-address-list=aaad-portal
        action=accept comment="aaad: walled garden: portal"
    /ip firewall filter add chain=input src-address-list=L protocol=tcp dst-port=P
        action=accept comment="aaad: walled garden: web proxy"
    /ip firewall filter add chain=forward src-address-list=L action=drop
        comment="aaad: walled garden: drop the rest"
    /ip firewall nat add chain=dstnat src-address-list=L dst-address-list=!aaad-portal
        protocol=tcp dst-port=80 action=redirect to-ports=P
        comment="aaad: walled garden: web to the suspension page"
    /ip proxy set enabled=yes port=P
    /ip proxy access add action=deny redirect-to=<public_url>/<org>/portal/suspended
        comment="aaad: walled garden: suspension page"

With ``--hotspot`` (``ProvisionSettings.hotspot``) the hotspot server profile ``S`` asks aaad
(``hsprof1`` by default, the one ``/ip hotspot setup`` makes; added if missing) and the org's
hotspot login pages are installed too (``D`` is the hotspot HTML directory, ``hotspot`` by
default; the files are :data:`aaad.urls.HOTSPOT_FILES`, served by aaad's portal at
:func:`aaad.urls.hotspot_file_url`)::

    /ip hotspot profile set [find name=S] use-radius=yes radius-accounting=yes
        radius-interim-update=5m html-directory=D
    /ip hotspot walled-garden add dst-host=H action=allow comment="aaad: hotspot: H"
    /ip hotspot walled-garden ip add dst-host=H action=accept comment="aaad: hotspot: H"
        (dst-address=H when H is an address; the same for each extra host given,
        e.g. a payment gateway's checkout; hosts no longer given are removed)
    /tool fetch url=<public_url>/<org>/portal/hotspot/FILE dst-path=D/FILE   (one per file)

aaad's firewall filter and NAT rules go above every other rule of theirs (RouterOS takes the
first rule that matches): new ones are added with ``place-before`` the first rule that is not
aaad's, and aaad's rules found below another rule are moved above it, in their order.  The pasted
script (:func:`script`, for a router without API credentials) appends them: put them first there.

A fetch is sent on every run (the router cannot say whether its copy is the current one), so a run
with ``--hotspot`` always reports those as changes.  The hotspot server itself (interface, address
pool, which server profile it uses) is the operator's, made with ``/ip hotspot setup``; the
profile's login methods (``login-by``) are left as they are: the pages do HTTP CHAP, and HTTP PAP
when the router offers no CHAP challenge.

Why a redirect through the router's web proxy rather than a dst-nat to the
portal: a dst-nat only changes the address, so the portal would receive
``GET /`` for ``Host: whatever-site`` and could not tell which page to show;
the proxy's deny rule answers every request with an HTTP redirect to the
full suspension URL.  Only plain HTTP can be redirected (HTTPS to other
hosts is dropped: no walled garden can answer TLS for another name).

Router profiles are named ``aaad-<profile>`` so they never clobber the
operator's own and so a deleted aaad profile can be pruned (only names with
the prefix are ever removed).  Records aaad owns in tables without names
carry a comment starting with ``aaad`` and are found by it.  Rules are
appended: with a fresh RouterOS default configuration they are reached; an
operator with an earlier catch-all accept or drop must move them up.
"""
from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from librouteros.exceptions import MultiTrapError, TrapError

from aaad import urls
from aaad.nas import Nas
from aaad.urls import HOTSPOT_FILES, hotspot_file_url, suspension_url
from aaad.view.model import Profile

#: Prefix of the PPP and hotspot user profiles aaad manages on a router.
PROFILE_PREFIX = "aaad-"
#: Comment of the /radius entry aaad manages (and prefix of its other comments).
MANAGED = "aaad"
PORTAL_LIST = "aaad-portal"
PPP_PROFILE = "/ppp/profile"
HOTSPOT_PROFILE = "/ip/hotspot/user/profile"

#: Attributes compared as durations (``300``, ``5m``, ``00:05:00`` are equal).
DURATION_KEYS = frozenset({"session-timeout", "interim-update", "idle-timeout", "keepalive-timeout",
                           "radius-interim-update"})
#: Attributes compared as unordered comma-separated sets.
SET_KEYS = frozenset({"service"})
#: Attributes masked in printed commands unless asked.
SECRET_KEYS = frozenset({"secret", "password"})


# -- steps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One record the router should have.

    ``match`` finds it in a table menu (empty for a single-record menu such as
    ``/ppp/aaa``); ``attrs`` are the values it should have (a value of None
    means the property must be unset).  On add, ``match`` and ``attrs`` together
    are the new record.
    """
    menu: str
    match: Mapping[str, str] = field(default_factory=dict)
    attrs: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Prune:
    """Remove every record of ``menu`` whose ``key`` starts with ``prefix`` and
    is not in ``keep`` (profiles of aaad's that no longer exist)."""
    menu: str
    prefix: str
    keep: frozenset[str]
    key: str = "name"


@dataclass(frozen=True)
class Ahead:
    """The records of ``menu`` whose ``key`` starts with ``prefix`` (aaad's) come before every other one.

    RouterOS evaluates firewall rules from the top down, first match wins: an operator's rule that
    accepts the customers' traffic, above the walled garden's drop, would let a suspended login
    out.  Where aaad's records are not all above the others they are moved there, keeping their
    order (``move numbers=.. destination=..``), and the steps of this menu that follow add their
    records before the first other one (``place-before``), not at the end."""
    menu: str
    prefix: str
    key: str = "comment"


@dataclass(frozen=True)
class Fetch:
    """A file the router downloads (``/tool fetch url=... dst-path=...``); always sent."""
    url: str
    dst_path: str


Plan = Sequence[Step | Prune | Fetch | Ahead]


@dataclass(frozen=True)
class Command:
    """One write sent (or, in a dry run, that would be sent) to the router."""
    action: str                        # add, set, unset, remove, move
    menu: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    find: Mapping[str, str] = field(default_factory=dict)   # how the CLI finds the record
    ids: tuple[str, ...] = ()          # the API .id(s) of the record(s)

    def words(self) -> list[str]:
        """The API sentence."""
        out = [f"{self.menu}/{self.action}"]
        if self.ids:
            out.append(f"=.id={','.join(self.ids)}")
        if self.action == "unset":
            out += [f"=value-name={k}" for k in self.attrs]
        else:
            out += [f"={k}={v}" for k, v in self.attrs.items()]
        return out

    def cli(self, show_secrets: bool = False) -> str:
        """The command in RouterOS terminal syntax (secrets masked unless asked)."""
        parts = ["/" + " ".join(self.menu.strip("/").split("/")), self.action]
        if self.find:
            parts.append("[find " + " ".join(f"{k}={_quote(v)}" for k, v in self.find.items()) + "]")
        for k, v in self.attrs.items():
            if self.action == "unset":
                parts.append(f"value-name={k}")
            else:
                shown = v if show_secrets or k not in SECRET_KEYS else "********"
                parts.append(f"{k}={_quote(shown)}")
        return " ".join(parts)


_PLAIN = re.compile(r"^[A-Za-z0-9._/:,!*+@-]+$")


def _quote(value: str) -> str:
    if _PLAIN.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


@dataclass
class ApplyResult:
    """What :func:`apply_steps` did (or would do, in a dry run)."""
    dry_run: bool
    commands: list[Command] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def cli(self, show_secrets: bool = False) -> list[str]:
        return [c.cli(show_secrets) for c in self.commands]


# -- planning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvisionSettings:
    """Where the router finds aaad, and how the walled garden is built."""
    radius_address: str                 # the address the router sends RADIUS to
    public_url: str                     # ``[web] public_url`` (aaad.urls.public_url)
    auth_port: int = 1812
    acct_port: int = 1813
    walled_garden_list: str = "suspended"   # ``[radius] walled_garden_address_list``
    proxy_port: int = 8080
    interim_update: int = 300           # /ppp/aaa interim-update, seconds
    hotspot: bool = False               # install the org's hotspot login pages and their walled garden
    hotspot_directory: str = "hotspot"  # the hotspot server profile's html-directory
    hotspot_profile: str = "hsprof1"    # the hotspot server profile set to use aaad (made if missing)
    hotspot_hosts: tuple[str, ...] = ()  # walled-garden hosts besides the portal's (a gateway's checkout)


def default_radius_address(conf: Any) -> str | None:
    """The address a router reaches aaad's RADIUS at when none is given: ``[radius] address``
    when it is one address, else the host of ``[web] public_url`` when it is an IP; None when
    neither tells (the listener is on a wildcard and the public URL names a host)."""
    if conf.radius.address not in ("0.0.0.0", "::"):
        return str(conf.radius.address)
    host = urllib.parse.urlsplit(conf.web.public_url or "").hostname
    if host:
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
    return None


def settings_from(conf: Any, radius_address: str, proxy_port: int = 8080, hotspot: bool = False,
                  hotspot_directory: str = "hotspot", hotspot_hosts: Iterable[str] = (),
                  hotspot_profile: str = "hsprof1") -> ProvisionSettings:
    """The provisioning settings of a config (``aaad nas provision`` and the API)."""
    return ProvisionSettings(
        radius_address=radius_address,
        public_url=urls.public_url(conf.web),
        auth_port=conf.radius.auth_port or 1812,
        acct_port=conf.accounting.port or 1813,
        walled_garden_list=conf.radius.walled_garden_address_list,
        proxy_port=proxy_port,
        interim_update=conf.accounting.default_interim,
        hotspot=hotspot,
        hotspot_directory=hotspot_directory.strip("/") or "hotspot",
        hotspot_hosts=tuple(dict.fromkeys(h.strip() for h in hotspot_hosts if h.strip())),
        hotspot_profile=hotspot_profile.strip() or "hsprof1")


def router_profile_name(profile_name: str) -> str:
    """The name of an aaad profile's PPP and hotspot profiles on the router."""
    return PROFILE_PREFIX + profile_name


def duration(seconds: int) -> str:
    """Seconds as RouterOS writes a duration (``1d2h``, ``5m``, ``0s``)."""
    if seconds <= 0:
        return "0s"
    out = ""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def profile_steps(profiles: Iterable[Profile]) -> list[Step | Prune]:
    """The PPP and hotspot user profiles of an org's profiles, and the pruning of
    router profiles whose aaad profile is gone (what a ``profile.changed`` syncs)."""
    steps: list[Step | Prune] = []
    names = set()
    for p in profiles:
        name = router_profile_name(p.name)
        names.add(name)
        timeout = duration(p.session_timeout) if p.session_timeout else None
        steps.append(Step(PPP_PROFILE, {"name": name}, {
            "rate-limit": p.rate_limit, "session-timeout": timeout, "remote-address": p.pool,
            "address-list": p.address_list}))
        steps.append(Step(HOTSPOT_PROFILE, {"name": name}, {
            "rate-limit": p.rate_limit, "session-timeout": timeout, "address-pool": p.pool,
            "address-list": p.address_list}))
    keep = frozenset(names)
    steps.append(Prune(PPP_PROFILE, PROFILE_PREFIX, keep))
    steps.append(Prune(HOTSPOT_PROFILE, PROFILE_PREFIX, keep))
    return steps


def walled_garden_steps(org_slug: str, settings: ProvisionSettings) -> list[Step]:
    """The firewall, NAT and web-proxy records that keep suspended logins in the garden."""
    lst, port = settings.walled_garden_list, str(settings.proxy_port)
    host = urllib.parse.urlsplit(settings.public_url).hostname or ""
    url = suspension_url(settings.public_url, org_slug)
    redirect = url.removeprefix("http://")  # RouterOS's proxy prefixes http:// itself
    wg = f"{MANAGED}: walled garden: "

    def rule(menu: str, comment: str, **attrs: str) -> Step:
        return Step(menu, {"comment": wg + comment}, {k.replace("_", "-"): v for k, v in attrs.items()})

    return [
        Step("/ip/firewall/address-list", {"list": PORTAL_LIST, "comment": f"{MANAGED}: portal"},
             {"address": host}),
        rule("/ip/firewall/filter", "DNS (udp)", chain="forward", src_address_list=lst, protocol="udp",
             dst_port="53", action="accept"),
        rule("/ip/firewall/filter", "DNS (tcp)", chain="forward", src_address_list=lst, protocol="tcp",
             dst_port="53", action="accept"),
        rule("/ip/firewall/filter", "portal", chain="forward", src_address_list=lst,
             dst_address_list=PORTAL_LIST, action="accept"),
        rule("/ip/firewall/filter", "web proxy", chain="input", src_address_list=lst, protocol="tcp",
             dst_port=port, action="accept"),
        rule("/ip/firewall/filter", "drop the rest", chain="forward", src_address_list=lst, action="drop"),
        rule("/ip/firewall/nat", "web to the suspension page", chain="dstnat", src_address_list=lst,
             dst_address_list="!" + PORTAL_LIST, protocol="tcp", dst_port="80", action="redirect",
             to_ports=port),
        Step("/ip/proxy", {}, {"enabled": "yes", "port": port}),
        rule("/ip/proxy/access", "suspension page", action="deny", redirect_to=redirect),
    ]


HOTSPOT_COMMENT = f"{MANAGED}: hotspot: "
HOTSPOT_SERVER_PROFILE = "/ip/hotspot/profile"
WALLED_GARDEN = "/ip/hotspot/walled-garden"
WALLED_GARDEN_IP = "/ip/hotspot/walled-garden/ip"


def hotspot_steps(org_slug: str, settings: ProvisionSettings) -> list[Step | Prune | Fetch]:
    """The hotspot server profile asking aaad (RADIUS authentication and accounting, the pages'
    directory), the walled garden the hotspot pages' links need (the portal's host and any extra
    hosts; hosts no longer wanted pruned) and the fetch of each page."""
    portal = urllib.parse.urlsplit(settings.public_url).hostname or ""
    hosts = list(dict.fromkeys([portal, *settings.hotspot_hosts]))
    steps: list[Step | Prune | Fetch] = [Step(HOTSPOT_SERVER_PROFILE, {"name": settings.hotspot_profile}, {
        "use-radius": "yes", "radius-accounting": "yes",
        "radius-interim-update": duration(settings.interim_update),
        "html-directory": settings.hotspot_directory})]
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            ip_match = {"dst-address": host}
        except ValueError:
            ip_match = {"dst-host": host}
        comment = {"comment": HOTSPOT_COMMENT + host}
        steps.append(Step(WALLED_GARDEN, comment, {"dst-host": host, "action": "allow"}))
        steps.append(Step(WALLED_GARDEN_IP, comment, {**ip_match, "action": "accept"}))
    keep = frozenset(HOTSPOT_COMMENT + h for h in hosts)
    steps.append(Prune(WALLED_GARDEN, HOTSPOT_COMMENT, keep, key="comment"))
    steps.append(Prune(WALLED_GARDEN_IP, HOTSPOT_COMMENT, keep, key="comment"))
    steps += [Fetch(hotspot_file_url(settings.public_url, org_slug, name), f"{settings.hotspot_directory}/{name}")
              for name in HOTSPOT_FILES]
    return steps


def plan(nas: Nas, org_slug: str, profiles: Iterable[Profile], settings: ProvisionSettings
         ) -> list[Step | Prune | Fetch | Ahead]:
    """Everything a router needs for aaad (see the module docstring), in order."""
    secret = nas.secret.decode()
    wg = f"{MANAGED}: walled garden: "
    return [
        Step("/radius", {"comment": MANAGED}, {
            "service": "ppp,hotspot", "address": settings.radius_address, "secret": secret,
            "authentication-port": str(settings.auth_port), "accounting-port": str(settings.acct_port)}),
        Step("/radius/incoming", {}, {"accept": "yes", "port": str(nas.coa_port)}),
        Step("/ppp/aaa", {}, {"use-radius": "yes", "accounting": "yes",
                              "interim-update": duration(settings.interim_update)}),
        *profile_steps(profiles),
        Ahead("/ip/firewall/filter", wg),
        Ahead("/ip/firewall/nat", wg),
        *walled_garden_steps(org_slug, settings),
        *(hotspot_steps(org_slug, settings) if settings.hotspot else []),
    ]


def script(steps: Plan) -> list[Command]:
    """The full configuration as commands, without reading a router (for an operator
    to paste, or to show when the NAS has no API credentials); prunes are left out."""
    out = []
    for s in steps:
        if isinstance(s, (Prune, Ahead)):
            continue
        if isinstance(s, Fetch):
            out.append(_fetch(s))
            continue
        values = {k: v for k, v in s.attrs.items() if v is not None}
        if s.match:
            out.append(Command("add", s.menu, {**s.match, **values}))
        else:
            out.append(Command("set", s.menu, values))
    return out


# -- comparing ----------------------------------------------------------------------------------

_BOOL = {"true": "yes", "yes": "yes", "false": "no", "no": "no"}
_DUR = re.compile(r"(\d+)(w|d|h|ms|m|s)")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def _seconds(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    if re.fullmatch(r"\d+:\d\d:\d\d", value):
        h, m, s = (int(x) for x in value.split(":"))
        return float(h * 3600 + m * 60 + s)
    parts = _DUR.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return float(sum(int(n) * _UNITS[u] for n, u in parts))
    return None


def _api_str(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def normalise(key: str, value: Any) -> str:
    """A value as compared: booleans as yes/no, durations in seconds, sets sorted."""
    if value is None:
        return ""
    text = _api_str(value)
    text = _BOOL.get(text, text)
    if key in DURATION_KEYS:
        secs = _seconds(text)
        if secs is not None:
            return "" if secs == 0 and key != "interim-update" else f"{secs:g}s"
    if key in SET_KEYS:
        return ",".join(sorted(x for x in text.split(",") if x))
    return text


def differences(current: Mapping[str, Any], desired: Mapping[str, str | None]) -> tuple[dict[str, str], list[str]]:
    """The attributes to set and the ones to unset so ``current`` becomes ``desired``."""
    to_set: dict[str, str] = {}
    to_unset: list[str] = []
    for k, want in desired.items():
        have = current.get(k)
        if want is None:
            if have is not None and normalise(k, have) != "":
                to_unset.append(k)
        elif normalise(k, have) != normalise(k, want):
            to_set[k] = want
    return to_set, to_unset


# -- applying --------------------------------------------------------------------------------------


class RosApi(Protocol):
    """What :func:`apply_steps` needs of a connection (librouteros's ``Api``)."""

    def rawCmd(self, cmd: str, *words: str) -> Iterable[dict[str, Any]]: ...  # noqa: N802


def _is_trap(e: Exception) -> bool:
    """A command the router refused (``!trap``): recorded, and the next step goes on."""
    return isinstance(e, (TrapError, MultiTrapError))


def _print(api: RosApi, menu: str, match: Mapping[str, str], keys: Iterable[str]) -> list[dict[str, Any]]:
    words = [f"=.proplist={','.join(dict.fromkeys(['.id', *match, *keys]))}"]
    words += [f"?={k}={v}" for k, v in match.items()]
    return list(api.rawCmd(f"{menu}/print", *words))


def apply_steps(api: RosApi, steps: Plan, dry_run: bool = False) -> ApplyResult:
    """Make the router match ``steps`` (see the module docstring).

    A command the router refuses is recorded in ``errors`` and the next step
    goes on; a lost connection or a timeout raises.
    """
    result = ApplyResult(dry_run)
    before: dict[str, str] = {}     # menu -> the .id aaad's new records go before (Ahead)

    def send(cmd: Command) -> None:
        result.commands.append(cmd)
        if dry_run:
            return
        try:
            list(api.rawCmd(*cmd.words()))
        except Exception as e:
            if not _is_trap(e):
                raise
            result.errors.append(f"{cmd.cli()}: {e}")

    for step in steps:
        if isinstance(step, Fetch):
            send(_fetch(step))
            continue
        try:
            if isinstance(step, Prune):
                _prune(api, step, send)
            elif isinstance(step, Ahead):
                _ahead(api, step, send, before)
            else:
                _apply_step(api, step, send, before.get(step.menu))
        except Exception as e:
            if not _is_trap(e):
                raise
            result.errors.append(f"{step.menu}/print: {e}")
    return result


def _fetch(step: Fetch) -> Command:
    return Command("fetch", "/tool", {"url": step.url, "dst-path": step.dst_path})


def _apply_step(api: RosApi, step: Step, send: Any, place_before: str | None = None) -> None:
    if not step.match:  # a single-record menu
        rows = list(api.rawCmd(f"{step.menu}/print", f"=.proplist={','.join(step.attrs)}"))
        current = rows[0] if rows else {}
        to_set, to_unset = differences(current, step.attrs)
        if to_set:
            send(Command("set", step.menu, to_set))
        for k in to_unset:
            send(Command("unset", step.menu, {k: ""}))
        return
    rows = _print(api, step.menu, step.match, step.attrs)
    if not rows:
        values = {k: v for k, v in step.attrs.items() if v is not None}
        where = {"place-before": place_before} if place_before else {}
        send(Command("add", step.menu, {**step.match, **values, **where}))
        return
    first, extra = rows[0], rows[1:]
    rid = str(first[".id"])
    to_set, to_unset = differences(first, step.attrs)
    if to_set:
        send(Command("set", step.menu, to_set, step.match, (rid,)))
    for k in to_unset:
        send(Command("unset", step.menu, {k: ""}, step.match, (rid,)))
    if extra:
        send(Command("remove", step.menu, {}, step.match, tuple(str(r[".id"]) for r in extra)))


def _ahead(api: RosApi, step: Ahead, send: Any, before: dict[str, str]) -> None:
    rows = list(api.rawCmd(f"{step.menu}/print", f"=.proplist=.id,{step.key}"))
    mine = [str(r.get(step.key, "")).startswith(step.prefix) for r in rows]
    ours = [r for r, m in zip(rows, mine, strict=True) if m]
    others = [r for r, m in zip(rows, mine, strict=True) if not m]
    if not others:
        return
    first_other = str(others[0][".id"])
    before[step.menu] = first_other
    if all(mine[:len(ours)]):
        return
    # One at a time, last first, each before the one moved before it: the same on every RouterOS
    # version, whatever a multi-item move does with its items' order.
    anchor = first_other
    for r in reversed(ours):
        rid = str(r[".id"])
        send(Command("move", step.menu, {"numbers": rid, "destination": anchor}))
        anchor = rid


def _prune(api: RosApi, step: Prune, send: Any) -> None:
    rows = list(api.rawCmd(f"{step.menu}/print", f"=.proplist=.id,{step.key}"))
    for r in rows:
        value = str(r.get(step.key, ""))
        if value.startswith(step.prefix) and value not in step.keep:
            send(Command("remove", step.menu, {}, {step.key: value}, (str(r[".id"]),)))


def plan_of(conn: Any, org_id: int, nas: Nas, settings: ProvisionSettings) -> list[Any]:
    """:func:`plan` for one of the org's routers, read in ``conn`` (the org's slug and profiles): what the
    API and the console preview and apply."""
    from aaad import orgs
    from aaad.view import store as view_store
    org = orgs.get(conn, org_id)
    if org is None:
        raise LookupError(f"no org {org_id}")
    return plan(nas, org.slug, view_store.list_profiles(conn, org_id), settings)
