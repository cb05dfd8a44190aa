"""The ``aaad`` command line.

Commands other than ``serve`` and ``status`` work directly on the database
(through the same store functions the daemon uses); their writes append to
the change feed, so a running daemon picks them up within a second.
Exit codes: 0 done, 1 failed, 2 bad arguments or configuration.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aaad import config as cfg
from aaad.crypto import SecretBox, SecretBoxError
from aaad.orgs import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAIL):
        self.code = code
        super().__init__(message)


def now_utc() -> datetime:
    # The CLI is a composition root of its own: it may read the wall clock.
    return datetime.now(UTC)


def load_config(args: argparse.Namespace, storage: bool = True) -> cfg.Config:
    """The validated config; with ``storage``, also a usable data directory
    (created if missing) and key file, or ConfigErrors (exit 2)."""
    from aaad import app, datadir
    conf = app.load_config(args.config)
    if storage:
        datadir.ensure(conf, app.key_path(conf))
    return conf


class Context:
    """Config, engine and secret box for one CLI invocation."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.conf = load_config(args)
        self._engine: Engine | None = None
        self._box: SecretBox | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from aaad import app
            from aaad.db import sync_engine
            url = app.prepare_storage(self.conf, upgrade=True)
            self._engine = sync_engine(url, self.conf.database.busy_timeout_ms)
            from aaad import wake
            wake.notify_on_commit(self._engine, self.conf.server.data_dir)
        return self._engine

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            from aaad import app
            self._box = app.secret_box(self.conf)
        return self._box

    def tx(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        with self.engine.begin() as conn:
            return fn(conn, *a, **kw)

    def org_id(self, slug: str | None) -> int:
        from aaad import orgs
        with self.engine.connect() as conn:
            if slug:
                o = orgs.get_by_slug(conn, slug)
                if o is None:
                    raise CliError(f"no org {slug!r} (see: aaad org list)", EXIT_USAGE)
                return o.id
            all_orgs = orgs.list_all(conn)
        if len(all_orgs) == 1:
            return all_orgs[0].id
        if not all_orgs:
            raise CliError("no org yet: create one with 'aaad org add SLUG --name NAME' (or 'aaad demo')", EXIT_USAGE)
        raise CliError("several orgs exist: say which with --org SLUG", EXIT_USAGE)


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [headers] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def print_rows(args: argparse.Namespace, rows: list[list[Any]], headers: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps([dict(zip(headers, r, strict=True)) for r in rows], default=str, indent=1))
    elif not rows:
        print("(none)")
    else:
        print(_table(rows, headers))


# -- commands -----------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from aaad import app
    return app.serve(load_config(args))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from aaad import app, migrate
    from aaad.db import sync_engine
    conf = load_config(args)
    url = app.prepare_storage(conf, upgrade=False)
    engine = sync_engine(url, conf.database.busy_timeout_ms)
    before = migrate.current(engine)
    migrate.upgrade(engine, packages=app.migrating())
    after = migrate.current(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)}: "
          + (f"upgraded {before or 'empty'} -> {after}" if before != after else f"already at {after}"))
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    from aaad import app, datadir
    conf = app.load_config(args.config)
    problems = datadir.errors(conf, app.key_path(conf), create=False)
    if problems:
        raise cfg.ConfigErrors(problems)
    print(f"{args.config or '<defaults>'}: OK")
    print(datadir.describe(conf))
    return EXIT_OK


def cmd_config_doc(args: argparse.Namespace) -> int:
    from aaad import app
    print(cfg.document(app.schema()))
    return EXIT_OK


def cmd_org_add(args: argparse.Namespace) -> int:
    from aaad import orgs
    ctx = Context(args)
    o = ctx.tx(orgs.add, args.slug, args.name or args.slug, now_utc(), args.timezone, args.currency)
    print(f"org {o.slug} added (id {o.id})")
    return EXIT_OK


def cmd_org_list(args: argparse.Namespace) -> int:
    from aaad import orgs
    ctx = Context(args)
    with ctx.engine.connect() as conn:
        rows = [[o.id, o.slug, o.name, o.timezone, o.currency] for o in orgs.list_all(conn)]
    print_rows(args, rows, ["id", "slug", "name", "timezone", "currency"])
    return EXIT_OK


def cmd_nas_add(args: argparse.Namespace) -> int:
    from aaad import nas
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    n = ctx.tx(nas.add, ctx.box, org_id, args.name, args.address, args.secret, now_utc(),
               type=args.type, coa_port=args.coa_port,
               require_message_authenticator=not args.no_message_authenticator,
               api_host=args.api_host, api_port=args.api_port, api_username=args.api_username,
               api_password=args.api_password, api_tls=args.api_tls)
    print(f"NAS {n.name} ({n.address}) added (id {n.id})")
    return EXIT_OK


def cmd_nas_set(args: argparse.Namespace) -> int:
    from aaad import nas
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    kw: dict[str, Any] = {}
    for key in ("api_host", "api_port", "api_username", "api_password"):
        if getattr(args, key) is not None:
            kw[key] = getattr(args, key) or None
    for field in args.clear or ():
        kw[field.replace("-", "_")] = None
    n = ctx.tx(nas.update, ctx.box, org_id, args.name, now_utc(), address=args.address, secret=args.secret,
               type=args.type, coa_port=args.coa_port,
               require_message_authenticator=(None if args.message_authenticator is None
                                              else args.message_authenticator == "required"),
               api_tls=args.api_tls, **kw)
    print(f"NAS {n.name} ({n.address}) updated: coa port {n.coa_port}, "
          f"API {'configured' if n.api_username else 'not configured'}")
    return EXIT_OK


def cmd_nas_list(args: argparse.Namespace) -> int:
    from aaad import nas
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    with ctx.engine.connect() as conn:
        rows = [[n.id, n.org_id, n.name, n.address, n.type, n.coa_port,
                 "yes" if n.require_message_authenticator else "no"]
                for n in nas.list_all(conn, ctx.box, org_id)]
    print_rows(args, rows, ["id", "org", "name", "address", "type", "coa_port", "require_ma"])
    return EXIT_OK


def cmd_nas_remove(args: argparse.Namespace) -> int:
    from aaad import nas
    ctx = Context(args)
    if not ctx.tx(nas.remove, ctx.org_id(args.org), args.name, now_utc()):
        raise CliError(f"no NAS named {args.name!r}")
    print(f"NAS {args.name} removed")
    return EXIT_OK


def _writer(ctx: Context) -> Any:
    from aaad.view.write import LoginWriter
    return LoginWriter(ctx.box)


def _profile_values(args: argparse.Namespace) -> dict[str, Any]:
    from aaad import fup
    from aaad.view.model import PROFILE_FIELDS
    values = {k: getattr(args, k) for k in PROFILE_FIELDS if getattr(args, k, None) not in (None, False)}
    if args.tier:  # FUP tiers (aaad.fup): --tier 100G:5M/5M, repeatable
        values["fup_tiers"] = [fup.parse_tier(t) for t in args.tier]
    for no, field, given in (("no_tiers", "fup_tiers", args.tier), ("no_free_hours", "free_hours", args.free_hours)):
        if getattr(args, no, False):
            if given:
                raise ValidationError(field, f"--{no.replace('_', '-')} with a value for it: give one of them")
            values[field] = None
    return values


def cmd_profile_add(args: argparse.Namespace) -> int:
    ctx = Context(args)
    p = ctx.tx(_writer(ctx).create_profile, ctx.org_id(args.org), args.name, now_utc(), **_profile_values(args))
    print(f"profile {p.name} added (id {p.id})")
    return EXIT_OK


def _find_profile(ctx: Context, org_id: int, name: str) -> Any:
    from aaad.view import store
    with ctx.engine.connect() as conn:
        p = store.profile_by_name(conn, org_id, name)
    if p is None:
        raise CliError(f"no profile {name!r} in this org (see: aaad profile list)", EXIT_USAGE)
    return p


def cmd_profile_set(args: argparse.Namespace) -> int:
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    p = _find_profile(ctx, org_id, args.name)
    values = _profile_values(args)
    for k in args.clear or ():
        values[k.replace("-", "_")] = None
    if not values:
        raise CliError("nothing to change: give at least one option (see --help)", EXIT_USAGE)
    ctx.tx(_writer(ctx).update_profile, org_id, p.id, now_utc(), **values)
    print(f"profile {p.name} changed: {', '.join(sorted(values))}")
    return EXIT_OK


def cmd_profile_remove(args: argparse.Namespace) -> int:
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    p = _find_profile(ctx, org_id, args.name)
    ctx.tx(_writer(ctx).remove_profile, org_id, p.id, now_utc())
    print(f"profile {p.name} removed")
    return EXIT_OK


def cmd_profile_list(args: argparse.Namespace) -> int:
    from aaad.view import store
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    def tiers(p: Any) -> Any:
        if args.json:
            return [{"after": t.after, "rate_limit": t.rate_limit} for t in p.fup_tiers]
        return " ".join(str(t) for t in p.fup_tiers) or None
    with ctx.engine.connect() as conn:
        rows = [[p.id, p.org_id, p.name, p.rate_limit, p.fup_rate_limit, p.session_timeout, p.pool,
                 p.interim_interval, p.address_list, tiers(p), p.free_hours and str(p.free_hours)]
                for p in store.list_profiles(conn, org_id)]
    print_rows(args, rows, ["id", "org", "name", "rate_limit", "fup_rate_limit", "session_timeout",
                             "pool", "interim", "address_list", "tiers", "free_hours"])
    return EXIT_OK


def _parse_time(s: str) -> datetime:
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise CliError(f"{s!r} is not an ISO 8601 date/time (e.g. 2026-12-31T23:59:00+00:00)", EXIT_USAGE) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _login_values(ctx: Context, org_id: int, args: argparse.Namespace) -> dict[str, Any]:
    """Profile and per-login override options of ``user add`` / ``user set``."""
    values: dict[str, Any] = {}
    if args.profile:
        values["profile_id"] = _find_profile(ctx, org_id, args.profile).id
    for k in ("framed_ip", "simultaneous_use", "data_cap", "rate_limit", "time_limit", "data_limit"):
        if getattr(args, k) is not None:
            values[k] = getattr(args, k)
    if args.bind_mac is not None:
        values["bind_mac"] = args.bind_mac
    if args.validity is not None:
        values["validity_seconds"] = args.validity
    if args.expires:
        values["expires_at"] = _parse_time(args.expires)
    return values


def _actor(args: argparse.Namespace) -> Any:
    from aaad.view.write import Actor
    return Actor.operator(force=bool(getattr(args, "force", False)))


def cmd_user_add(args: argparse.Namespace) -> int:
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    values = _login_values(ctx, org_id, args)
    if args.suspend_mode is not None:
        values["suspend_mode"] = args.suspend_mode
    lg = ctx.tx(_writer(ctx).create, org_id, args.username, args.password, now_utc(), **values)
    print(f"user {lg.username} added (id {lg.id})")
    return EXIT_OK


def _find_login(ctx: Context, args: argparse.Namespace) -> Any:
    from aaad.view import store
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        lg = store.login_by_name(conn, ctx.box, org_id, args.username)
    if lg is None:
        raise CliError(f"no user {args.username!r} in this org (see: aaad user list)")
    return lg


def cmd_user_set(args: argparse.Namespace) -> int:
    ctx = Context(args)
    lg = _find_login(ctx, args)
    values = _login_values(ctx, lg.org_id, args)
    for k in args.clear or ():
        values[{"profile": "profile_id", "validity": "validity_seconds",
                "expires": "expires_at"}.get(k, k.replace("-", "_"))] = None
    if not values and not args.rename:
        raise CliError("nothing to change: give at least one option (see --help)", EXIT_USAGE)
    w = _writer(ctx)
    now = now_utc()

    def change(conn: Any) -> None:
        if values:
            w.set_profile(conn, lg.org_id, lg.id, now, actor=_actor(args), **values)
        if args.rename:
            w.rename(conn, lg.org_id, lg.id, args.rename, now, actor=_actor(args))
    ctx.tx(change)
    print(f"user {lg.username} changed" + (f", now named {args.rename}" if args.rename else ""))
    return EXIT_OK


def _set_state(state: str) -> Callable[[argparse.Namespace], int]:
    def cmd(args: argparse.Namespace) -> int:
        ctx = Context(args)
        lg = _find_login(ctx, args)
        ctx.tx(_writer(ctx).set_state, lg.org_id, lg.id, state, now_utc(), actor=_actor(args),
               suspend_mode=getattr(args, "mode", None), reason=getattr(args, "reason", None) or "operator")
        print(f"user {lg.username}: {state}")
        return EXIT_OK
    return cmd


def cmd_user_passwd(args: argparse.Namespace) -> int:
    ctx = Context(args)
    lg = _find_login(ctx, args)
    ctx.tx(_writer(ctx).set_password, lg.org_id, lg.id, args.password, now_utc(), actor=_actor(args))
    print(f"user {lg.username}: password changed")
    return EXIT_OK


def cmd_user_remove(args: argparse.Namespace) -> int:
    ctx = Context(args)
    lg = _find_login(ctx, args)
    ctx.tx(_writer(ctx).remove, lg.org_id, lg.id, now_utc(), actor=_actor(args))
    print(f"user {args.username} removed")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    from aaad.view import store
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    with ctx.engine.connect() as conn:
        profs = {p.id: p.name for p in store.list_profiles(conn, org_id)}
        rows = [[lg.id, lg.org_id, lg.username, lg.state, profs.get(lg.profile_id or -1),
                 lg.framed_ip, lg.simultaneous_use, lg.expires_at, lg.data_cap,
                 f"{lg.time_used}/{lg.time_limit}" if lg.time_limit is not None else None,
                 f"{lg.octets_used}/{lg.data_limit}" if lg.data_limit is not None else None,
                 f"{lg.owner_type} {lg.owner_id}" if lg.owner_type else None]
                for lg in store.list_logins(conn, ctx.box, org_id, args.limit)]
    print_rows(args, rows, ["id", "org", "username", "state", "profile", "framed_ip", "sim_use",
                             "expires_at", "data_cap", "time_used", "data_used", "owner"])
    return EXIT_OK


def cmd_trial_set(args: argparse.Namespace) -> int:
    from aaad import trial
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    pid = _find_profile(ctx, org_id, args.profile).id if args.profile else None
    ctx.tx(trial.set_trial, _writer(ctx), org_id, args.minutes, pid, now_utc())
    print(f"free trial on: {args.minutes} minutes per device per day"
          + (f" at profile {args.profile}" if args.profile else "")
          + f"; devices log in as {trial.PREFIX}<their MAC> with the same text as password")
    return EXIT_OK


def cmd_trial_off(args: argparse.Namespace) -> int:
    from aaad import trial
    ctx = Context(args)
    if not ctx.tx(trial.trial_off, _writer(ctx), ctx.org_id(args.org), now_utc()):
        print("the org has no free trial")
        return EXIT_OK
    print("free trial off")
    return EXIT_OK


def cmd_trial_show(args: argparse.Namespace) -> int:
    from aaad import trial
    from aaad.view import store
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    now = now_utc()
    with ctx.engine.connect() as conn:
        tpl = trial.get_trial(conn, ctx.box, org_id)
        prof = store.get_profile(conn, org_id, tpl.profile_id) if tpl and tpl.profile_id else None
        uses = [u for u in trial.current(conn, now) if u.org_id == org_id]
    info = {"enabled": tpl is not None, "minutes": (tpl.time_limit or 0) // 60 if tpl else None,
            "profile": prof.name if prof else None, "devices_today": len(uses)}
    if args.json:
        import json
        print(json.dumps(info))
    elif tpl is None:
        print("free trial: off (turn it on with: aaad trial set --minutes 30 [--profile NAME])")
    else:
        print(f"free trial: {info['minutes']} minutes per device per day, profile {info['profile'] or '-'}; "
              f"{len(uses)} device(s) used it today")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from aaad.demo import seed
    from billing.demo import seed as seed_billing
    ctx = Context(args)
    now = now_utc()
    for line in seed(ctx.engine, ctx.box, now):
        print(line)
    if not args.no_billing:
        outbox = os.path.join(os.path.abspath(ctx.conf.server.data_dir), "outbox")
        for line in seed_billing(ctx.engine, ctx.box, now, outbox_dir=outbox):
            print(line)
    from web.admin.demo import seed as seed_console
    for line in seed_console(ctx.engine, now):
        print(line)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    url = args.url
    if not url:
        from aaad import app, urls
        conf = app.load_config(args.config)
        port = conf.web.port
        if conf.server.ready_file:
            try:
                with open(conf.server.ready_file) as f:
                    port = json.load(f)["web"]
            except (OSError, ValueError, KeyError):
                pass
        url = urls.local_url(conf.web, port)
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        raise CliError(f"cannot reach the daemon at {url}: {e}") from None
    for line in text.splitlines():
        if line.startswith("aaad_") or line.startswith("radius_") or line.startswith("acct_"):
            name, _, value = line.rpartition(" ")
            try:
                v = float(value)
            except ValueError:
                continue
            print(f"{name:70s} {int(v) if v.is_integer() else v}")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aaad", description="RADIUS AAA daemon with embedded billing.")
    p.add_argument("--config", "-c", metavar="PATH", default=os.environ.get("AAAD_CONFIG") or None,
                   help="TOML config file (default: $AAAD_CONFIG, else built-in defaults; "
                        "see conf/aaad.example.toml)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("serve", help="run the daemon")
    s.set_defaults(fn=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    db.add_parser("upgrade", help="apply schema migrations (idempotent)").set_defaults(fn=cmd_db_upgrade)

    c = sub.add_parser("config", help="check or document the configuration").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    c.add_parser("check", help="validate the config file and exit").set_defaults(fn=cmd_config_check)
    c.add_parser("doc", help="print every key with its default and meaning").set_defaults(fn=cmd_config_doc)

    o = sub.add_parser("org", help="orgs (tenants)").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    oa = o.add_parser("add", help="add an org")
    oa.add_argument("slug")
    oa.add_argument("--name")
    oa.add_argument("--timezone", default="UTC")
    oa.add_argument("--currency", default="USD")
    oa.set_defaults(fn=cmd_org_add)
    ol = o.add_parser("list", help="list orgs")
    ol.add_argument("--json", action="store_true")
    ol.set_defaults(fn=cmd_org_list)

    n = sub.add_parser("nas", help="NAS clients (routers)").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    na = n.add_parser("add", help="add a NAS client")
    na.add_argument("name")
    na.add_argument("address", help="IP address or network (CIDR) the router sends from")
    na.add_argument("--secret", required=True, help="the RADIUS shared secret")
    na.add_argument("--org")
    na.add_argument("--type", default="mikrotik", choices=["mikrotik", "other"])
    na.add_argument("--coa-port", type=int, default=3799)
    na.add_argument("--no-message-authenticator", action="store_true",
                    help="accept Access-Requests without Message-Authenticator (not recommended: Blast-RADIUS)")
    na.add_argument("--api-host")
    na.add_argument("--api-port", type=int)
    na.add_argument("--api-username")
    na.add_argument("--api-password")
    na.add_argument("--api-tls", action="store_true")
    na.set_defaults(fn=cmd_nas_add)
    ns = n.add_parser("set", help="change a NAS client (only the options given)")
    ns.add_argument("name")
    ns.add_argument("--org")
    ns.add_argument("--address", help="IP address or network (CIDR) the router sends from")
    ns.add_argument("--secret", help="the RADIUS shared secret (also signs CoA/Disconnect)")
    ns.add_argument("--type", choices=["mikrotik", "other"])
    ns.add_argument("--coa-port", type=int, help="the router's CoA/Disconnect port (RouterOS: 3799)")
    ns.add_argument("--message-authenticator", choices=["required", "optional"],
                    help="whether Access-Requests must carry Message-Authenticator (required: Blast-RADIUS)")
    ns.add_argument("--api-host", help="RouterOS API address, if not the NAS address")
    ns.add_argument("--api-port", type=int, help="RouterOS API port (8728 plain, 8729 TLS)")
    ns.add_argument("--api-username")
    ns.add_argument("--api-password", help="stored encrypted")
    ns.add_argument("--api-tls", action=argparse.BooleanOptionalAction, default=None,
                    help="talk to the API over TLS (api-ssl)")
    ns.add_argument("--clear", action="append", choices=["api-host", "api-port", "api-username", "api-password"],
                    help="unset an API setting (repeatable)")
    ns.set_defaults(fn=cmd_nas_set)
    nl = n.add_parser("list", help="list NAS clients")
    nl.add_argument("--org")
    nl.add_argument("--json", action="store_true")
    nl.set_defaults(fn=cmd_nas_list)
    nr = n.add_parser("remove", help="remove a NAS client")
    nr.add_argument("name")
    nr.add_argument("--org")
    nr.set_defaults(fn=cmd_nas_remove)

    pr = sub.add_parser("profile", help="profiles (the RADIUS side of a plan)").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    pa = pr.add_parser("add", help="add a profile")
    ps = pr.add_parser("set", help="change a profile (logins using it get the new reply at once)")
    for x in (pa, ps):
        x.add_argument("name")
        x.add_argument("--org")
        x.add_argument("--rate-limit", help="Mikrotik-Rate-Limit, e.g. 10M/10M")
        x.add_argument("--fup-rate-limit", help="rate once the data cap is passed")
        x.add_argument("--session-timeout", type=int, help="seconds")
        x.add_argument("--pool", help="Framed-Pool (router IP pool name)")
        x.add_argument("--interim-interval", type=int, help="Acct-Interim-Interval seconds")
        x.add_argument("--address-list", help="Mikrotik-Address-List")
        x.add_argument("--block-when-exhausted", action="store_true",
                       help="reject logins of this profile once their data cap is used up")
        x.add_argument("--tier", action="append", metavar="SIZE:RATE",
                       help="FUP tier, repeatable: after SIZE counted in the cycle, RATE (e.g. 100G:5M/5M; "
                            "K/M/G/T decimal, Ki/Mi/Gi/Ti binary); on set, replaces all tiers")
        x.add_argument("--free-hours", metavar="HH:MM-HH:MM",
                       help="local time (org zone) whose traffic does not count, e.g. 00:00-06:00")
    ps.add_argument("--no-tiers", action="store_true", help="remove every FUP tier")
    ps.add_argument("--no-free-hours", action="store_true", help="remove the free hours")
    ps.add_argument("--clear", action="append", metavar="FIELD",
                    choices=["rate-limit", "fup-rate-limit", "session-timeout", "pool", "interim-interval",
                             "address-list"], help="unset a field (repeatable)")
    pa.set_defaults(fn=cmd_profile_add)
    ps.set_defaults(fn=cmd_profile_set)
    prm = pr.add_parser("remove", help="remove a profile no login uses")
    prm.add_argument("name")
    prm.add_argument("--org")
    prm.set_defaults(fn=cmd_profile_remove)
    pl = pr.add_parser("list", help="list profiles")
    pl.add_argument("--org")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(fn=cmd_profile_list)

    u = sub.add_parser("user", help="logins (PPPoE and hotspot users) for operators without billing").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    ua = u.add_parser("add", help="add a login")
    us = u.add_parser("set", help="change a login's profile, overrides or name",
                      description="Logins managed by billing or a voucher (see the owner column of "
                                  "'user list') are changed there; --force overrides that.")
    for x in (ua, us):
        x.add_argument("username")
        x.add_argument("--org")
        x.add_argument("--profile")
        x.add_argument("--framed-ip", help="fixed IPv4 address (Framed-IP-Address)")
        x.add_argument("--rate-limit", help="override the profile's rate limit")
        x.add_argument("--simultaneous-use", type=int)
        x.add_argument("--expires", help="ISO 8601 time the login stops working")
        x.add_argument("--validity", type=int, help="seconds of validity counted from first use")
        x.add_argument("--data-cap", type=int, help="octets per cycle (in + out)")
        x.add_argument("--time-limit", type=int, metavar="SECONDS",
                       help="seconds online in total, over all sessions (a hotspot user's uptime limit); "
                            "used up, the login is exhausted and disconnected")
        x.add_argument("--data-limit", type=int, metavar="OCTETS",
                       help="octets (in + out) in total, never renewed (unlike --data-cap)")
        x.add_argument("--bind-mac", action=argparse.BooleanOptionalAction, default=None,
                       help="bind the login to the first device (Calling-Station-Id) that uses it")
    ua.add_argument("--password", required=True)
    ua.add_argument("--suspend-mode", choices=["reject", "walled_garden"])
    ua.set_defaults(fn=cmd_user_add)
    us.add_argument("--rename", metavar="NEW_NAME", help="give the login a new user name")
    us.add_argument("--clear", action="append", metavar="FIELD",
                    choices=["profile", "framed-ip", "rate-limit", "simultaneous-use", "expires",
                             "validity", "data-cap", "time-limit", "data-limit"],
                    help="unset an override (repeatable)")
    us.add_argument("--force", action="store_true", help="change a login managed by billing or a voucher")
    us.set_defaults(fn=cmd_user_set)
    ul = u.add_parser("list", help="list logins")
    ul.add_argument("--org")
    ul.add_argument("--limit", type=int)
    ul.add_argument("--json", action="store_true")
    ul.set_defaults(fn=cmd_user_list)
    for name, state, helptext in (("disable", "disabled", "disable a login (rejected at next auth)"),
                                  ("enable", "active", "re-enable a login"),
                                  ("suspend", "suspended", "suspend a login (reject or walled garden)")):
        x = u.add_parser(name, help=helptext)
        x.add_argument("username")
        x.add_argument("--org")
        x.add_argument("--reason", help="recorded with the change (login.state_changed)")
        x.add_argument("--force", action="store_true", help="change a login managed by billing or a voucher")
        if name == "suspend":
            x.add_argument("--mode", choices=["reject", "walled_garden"])
        x.set_defaults(fn=_set_state(state))
    tr = sub.add_parser("trial", help="a hotspot's free trial: N minutes per device per day, without a voucher",
                        description="Devices log in as T-<MAC> (password: the same text) from that MAC; the "
                                    "first login of the local day starts the minutes. Keep the router's own "
                                    "trial off so the login reaches RADIUS.").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    ts = tr.add_parser("set", help="turn the free trial on, or change it")
    ts.add_argument("--org")
    ts.add_argument("--minutes", type=int, required=True, help="minutes per device per day (1-1440)")
    ts.add_argument("--profile", help="the trial's speed (a profile name)")
    ts.set_defaults(fn=cmd_trial_set)
    to = tr.add_parser("off", help="turn the free trial off")
    to.add_argument("--org")
    to.set_defaults(fn=cmd_trial_off)
    tw = tr.add_parser("show", help="the free trial's setting and today's devices")
    tw.add_argument("--org")
    tw.add_argument("--json", action="store_true")
    tw.set_defaults(fn=cmd_trial_show)
    up = u.add_parser("passwd", help="change a login's password")
    up.add_argument("username")
    up.add_argument("--password", required=True)
    up.add_argument("--org")
    up.add_argument("--force", action="store_true", help="change a login managed by billing or a voucher")
    up.set_defaults(fn=cmd_user_passwd)
    ur = u.add_parser("remove", help="remove a login")
    ur.add_argument("username")
    ur.add_argument("--org")
    ur.add_argument("--force", action="store_true", help="remove a login managed by billing or a voucher")
    ur.set_defaults(fn=cmd_user_remove)

    dm = sub.add_parser("demo", help="seed demo data (idempotent): an org, a NAS on 127.0.0.1, profiles, users, "
                                     "and a demo ISP's billing (products, customers in every state, six weeks of "
                                     "invoices, payments, credit notes and a dunning suspension)")
    dm.add_argument("--no-billing", action="store_true", help="only the RADIUS side (orgs, NAS, profiles, users)")
    dm.set_defaults(fn=cmd_demo)

    st = sub.add_parser("status", help="print a running daemon's counters (from /metrics)")
    st.add_argument("--url", help="base URL of the daemon's web listener (default: from the config)")
    st.set_defaults(fn=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    from aaad.app import PACKAGES
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for package in PACKAGES:
        if package.cli is not None:
            package.cli(sub)
    args = parser.parse_args(argv)
    try:
        code: int = args.fn(args)
        return code
    except cfg.ConfigErrors as e:
        print(f"aaad: configuration has {len(e.errors)} error(s):", file=sys.stderr)
        for err in e.errors:
            print(f"  {err}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as e:
        print(f"aaad: {e.field}: {e.message}", file=sys.stderr)
        return EXIT_USAGE
    except SecretBoxError as e:
        print(f"aaad: secrets.key_file: {e}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as e:
        print(f"aaad: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())

