"""The admin API end to end: a real daemon with two fully seeded orgs, its
tokens, a JSON client over real HTTP, and what the generic checks read from
the OpenAPI document (routes, which list route gives the ids of a
``{thing_id}``, plausible inputs).

Org ``other`` (B) is the demo seeded once and renamed, then ``demo`` (A) is
seeded again, all through the CLI before the daemon starts: both orgs hold one
of everything, under different ids (a throwaway org for the fuzzer is seeded
the same way).  B, seeded first, keeps the demo NAS on 127.0.0.1 (a later
seeding cannot add the same address), so RADIUS traffic from loopback gives B
sessions, usage and an auth log too.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tests.conftest import Daemon, DaemonFactory

A, B = "demo", "other"

#: Config for API tests: no rate limit (the sweep and the fuzzer send hundreds of requests).
API_EXTRA = "[api]\nrate = 0\n"

METHODS = ("get", "post", "patch", "put", "delete")
PARAM = re.compile(r"{(\w+)}")


def cli(conf: Path, *args: str) -> str:
    """Run ``aaad -c CONF ARGS`` and return its output (fails the test on an error)."""
    r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"aaad {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


def database_url(conf: Path) -> str:
    """The database URL the daemon with config ``conf`` uses (migrated)."""
    from aaad import app
    return app.prepare_storage(app.load_config(str(conf)), upgrade=True)


def seed_orgs(conf: Path, renamed: tuple[str, ...] = (B,)) -> None:
    """Org ``demo`` and one org per ``renamed`` slug, each with the whole demo (RADIUS and billing): the
    demo is seeded and renamed once per slug, then seeded again."""
    import sqlalchemy as sa

    from aaad.db import sync_engine
    from aaad.schema import orgs
    e = sync_engine(database_url(conf))
    try:
        for slug in renamed:
            cli(conf, "demo")
            with e.begin() as c:
                c.execute(sa.update(orgs).where(orgs.c.slug == A).values(slug=slug, name=f"{slug.title()} Net"))
        seed_signup(e, B, conf)
    finally:
        e.dispose()
    cli(conf, "demo")
    seed_shop(conf, (A, *renamed))


def seed_shop(conf: Path, slugs: tuple[str, ...]) -> None:
    """Each org gets an order (a request for Static IP by its first customer) and a ticket about it, so the
    isolation sweep has order and ticket ids of B to aim at."""
    import sqlalchemy as sa

    from aaad import app, orgs
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    from billing import catalogue
    from billing.orders import orders, tickets
    from billing.schema import customers
    now = datetime.now(UTC)
    writer = LoginWriter(app.secret_box(app.load_config(str(conf))))
    e = sync_engine(database_url(conf))
    try:
        with e.begin() as c:
            for slug in slugs:
                org = orgs.get_by_slug(c, slug)
                assert org is not None
                cid = c.execute(sa.select(sa.func.min(customers.c.id)).where(customers.c.org_id == org.id)
                                ).scalar_one()
                p = catalogue.product_by_name(c, org.id, "Static IP")
                assert p is not None
                o = orders.place(c, writer, org.id, cid, [p.id], now, method="request", note="seeded")
                tickets.open_ticket(c, org.id, cid, f"Order {o.number}", "Seeded request.", now, order_id=o.id)
    finally:
        e.dispose()


def seed_signup(engine: Any, slug: str, conf: Path) -> None:
    """A pending registration with an ID document and a custom form field in org ``slug`` (for the
    isolation sweep)."""
    from aaad import app
    from aaad import orgs as orgs_mod
    from billing.signup import forms, registrations, uploads
    now = datetime.now(UTC)
    data_dir = app.load_config(str(conf)).server.data_dir
    with engine.begin() as c:
        org = orgs_mod.get_by_slug(c, slug)
        assert org is not None
        doc = uploads.store(data_dir, org.id, "id.pdf", b"%PDF-1.4\n% seeded\n", 10_000)
        registrations.seed_one(c, org.id, now, document=doc)
        if not forms.list_fields(c, org.id):
            forms.add_field(c, org.id, now, key="id_number", label="ID number", kind="text")


def seed_coverage_contracts(conf: Path, slugs: tuple[str, ...] = (A, B)) -> None:
    """Each org gets the sign-up objects (billing.signup): a coverage zone, a contract version, a lead and a
    customer's signature of the contract, so the isolation sweep aims at B's."""
    import sqlalchemy as sa

    from aaad import orgs
    from aaad.db import sync_engine
    from billing.schema import customers
    from billing.signup import contracts, coverage, leads
    now = datetime.now(UTC)
    e = sync_engine(database_url(conf))
    try:
        with e.begin() as c:
            for slug in slugs:
                org = orgs.get_by_slug(c, slug)
                assert org is not None
                coverage.add_zone(c, org.id, now, name="Osu", areas=["Osu"], postcodes=["GA1*"], geojson={
                    "type": "Polygon", "coordinates": [[[-0.19, 5.54], [-0.16, 5.54], [-0.16, 5.57], [-0.19, 5.54]]]})
                leads.add(c, org.id, now, name="Kwesi Appiah", email="kwesi@example.com",
                          place=coverage.Place(postcode="GE-1"))
                k = contracts.add_version(c, org.id, now, title="Service agreement", body="We connect you.")
                cid = c.execute(sa.select(customers.c.id).where(customers.c.org_id == org.id)
                                .order_by(customers.c.id).limit(1)).scalar_one()
                contracts.sign(c, org.id, cid, k.id, now, full_name="Ama Mensah", agreed=True, ip="192.0.2.1",
                               user_agent="e2e", pdf=b"%PDF-1.4 e2e")
    finally:
        e.dispose()


def make_tokens(conf: Path, extra_orgs: tuple[str, ...] = ()) -> dict[str, str]:
    """Tokens: a / a_ro (org demo), b / b_ro (org other), platform, and SLUG / SLUG_ro per ``extra_orgs``
    slug (the org added when missing)."""
    from aaad import orgs
    from aaad.db import sync_engine
    from web import tokens
    now = datetime.now(UTC)
    e = sync_engine(database_url(conf))
    try:
        with e.begin() as c:
            for slug in extra_orgs:
                if orgs.get_by_slug(c, slug) is None:
                    orgs.add(c, slug, f"{slug} org", now, "UTC", "USD")
            ids = {slug: orgs.get_by_slug(c, slug) for slug in (A, B, *extra_orgs)}
            out = {"platform": tokens.create(c, None, "e2e platform", now).secret}
            for key, slug in (("a", A), ("b", B), *((s, s) for s in extra_orgs)):
                org = ids[slug]
                if org is None:
                    continue
                out[key] = tokens.create(c, org.id, f"e2e {key}", now).secret
                out[key + "_ro"] = tokens.create(c, org.id, f"e2e {key} viewer", now, read_only=True).secret
    finally:
        e.dispose()
    return out


def radius_traffic(d: Daemon, user: str = "alice", password: str = "alice-pass", stop: bool = True) -> None:
    """An Access-Request and an accounting session (closed unless ``stop`` is false) from loopback (org
    ``other``'s NAS): B gets an auth log entry, a session and usage.  Nothing without radclient."""
    if shutil.which("radclient") is None:
        return
    sid = f"e2e-{uuid.uuid4().hex[:8]}"
    base = (f'User-Name = "{user}"\nAcct-Session-Id = "{sid}"\nNAS-Port = 7\nFramed-IP-Address = 10.9.0.7\n'
            'Message-Authenticator = 0x00\n')
    packets = [
        ("auth", d.auth_port, f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n'),
        ("acct", d.acct_port, base + "Acct-Status-Type = Start\n"),
        ("acct", d.acct_port, base + "Acct-Status-Type = Interim-Update\nAcct-Input-Octets = 1000000\n"
                                     "Acct-Output-Octets = 5000000\nAcct-Session-Time = 300\n"),
        ("acct", d.acct_port, base + "Acct-Status-Type = Stop\nAcct-Input-Octets = 2000000\n"
                                     "Acct-Output-Octets = 9000000\nAcct-Session-Time = 600\n"),
    ][: None if stop else 3]
    for kind, port, attrs in packets:
        subprocess.run(["radclient", "-r", "2", "-t", "3", f"127.0.0.1:{port}", kind, "testing123"],
                       input=attrs, capture_output=True, text=True, timeout=30)


@dataclass
class ApiWorld:
    """The running daemon, who can call it, and its OpenAPI document."""
    daemon: Daemon
    conf: Path
    tokens: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    _doc: dict[str, Any] | None = None

    @property
    def base(self) -> str:
        return self.daemon.url("/api/v1")

    def call(self, method: str, path: str, who: str | None = "a", *, json: Any = None,
             params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
             data: bytes | None = None, session: requests.Session | None = None) -> requests.Response:
        """``method path`` (relative to /api/v1) with ``who``'s token."""
        h = dict(headers or {})
        if who is not None:
            h["Authorization"] = "Bearer " + self.tokens[who]
        return (session or self.session).request(method, self.base + path, json=json, params=params, headers=h,
                                                 data=data, timeout=60, allow_redirects=False)

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            r = self.session.get(self.base + "/openapi.json", timeout=30)
            assert r.status_code == 200, r.text
            self._doc = r.json()
        return self._doc

    def has(self, method: str, path: str) -> bool:
        return method.lower() in self.doc["paths"].get(path, {})


def start_world(factory: DaemonFactory, db_url: str | None = None, extra_orgs: tuple[str, ...] = ()) -> ApiWorld:
    """A daemon on a database with orgs demo, other and ``extra_orgs``, all seeded, and their tokens."""
    conf, data_dir = factory.configure(db_url, extra=API_EXTRA, demo=False)
    seed_orgs(conf, (B, *extra_orgs))
    seed_coverage_contracts(conf)
    toks = make_tokens(conf, extra_orgs)
    return ApiWorld(factory.start(conf, data_dir), conf, toks)


# -- reading the document ---------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str          # upper case
    path: str            # template, relative to /api/v1
    op: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def is_page(self) -> bool:
        """Whether a 200 answers a Page (``items`` and ``next_cursor``)."""
        return self.method == "GET" and not self.params and _is_page(self.op)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _is_page(op: dict[str, Any]) -> bool:
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
    return bool(ok) and "Page_" in str(ok.get("schema", {}).get("$ref", ""))


def routes(doc: dict[str, Any]) -> list[Route]:
    return [Route(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items() if m in METHODS]


def list_paths(param: str) -> list[str]:
    """The list routes that may give the ids of ``{param}``, the convention's first: ``credit_note_id`` ->
    ``/credit-notes`` (then ``/nas`` for ``nas_id``, ``/entries`` for ``entry_id``...)."""
    stem = (param[:-3] if param.endswith("_id") else param).replace("_", "-")
    out = [f"/{stem}s", f"/{stem}es", f"/{stem}"]
    if stem.endswith("y"):
        out.insert(0, f"/{stem[:-1]}ies")
    return out


def fill(path: str, values: dict[str, Any]) -> str:
    return PARAM.sub(lambda m: str(values[m.group(1)]), path)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


#: Plausible text for fields whose name says what they hold.
HINTS = {"currency": "USD", "method": "cash", "timezone": "UTC", "country": "US"}


class Sampler:
    """Plausible inputs from a route's schemas: required fields only, ids from ``ids`` (param name -> id),
    the rest from the field's example, name, enum, format and bounds."""

    def __init__(self, doc: dict[str, Any], ids: dict[str, int]):
        self.doc, self.ids = doc, ids

    def value(self, schema: dict[str, Any], name: str = "") -> Any:
        schema = resolve(self.doc, schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [resolve(self.doc, s) for s in schema[key]]
                real = [s for s in options if s.get("type") != "null"] or options
                return self.value(real[0], name)
        if "allOf" in schema:
            return self.value(schema["allOf"][0], name)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        if name in self.ids:
            return self.ids[name]
        if schema.get("examples"):
            return schema["examples"][0]
        kind = schema.get("type")
        if kind == "integer":
            if name.endswith("_id"):
                return 1
            return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1, 1)
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "array":
            return [self.value(schema.get("items", {}), name) for _ in range(int(schema.get("minItems", 0)))]
        if kind == "object":
            return self.body(schema)
        return self.text(schema, name)

    def text(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        today = datetime.now(UTC)
        if fmt == "date":
            return today.date().isoformat()
        if fmt == "date-time":
            return today.strftime("%Y-%m-%dT%H:%M:%SZ")
        unique = uuid.uuid4().hex[:10]
        if fmt == "email" or name == "email":
            return f"e2e-{unique}@example.com"
        if name in HINTS:
            return HINTS[name]
        if name == "slug" or schema.get("pattern", "").startswith("^[a-z0-9]"):
            return f"e2e{unique}"
        if name == "phone":
            return "+1202555" + str(uuid.uuid4().int)[:4]
        text = f"e2e {name or 'text'} {unique}"
        return text[: int(schema.get("maxLength", 200))].ljust(int(schema.get("minLength", 0)), "x")

    def body(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = resolve(self.doc, schema)
        required = set(schema.get("required", ()))
        return {k: self.value(v, k) for k, v in schema.get("properties", {}).items() if k in required}

    def request_body(self, route: Route) -> dict[str, Any] | None:
        content = route.op.get("requestBody", {}).get("content", {}).get("application/json")
        return self.body(content["schema"]) if content else None

    def query(self, route: Route) -> dict[str, Any]:
        return {p["name"]: self.value(p["schema"], p["name"]) for p in route.op.get("parameters", ())
                if p["in"] == "query" and p.get("required")}
