"""Configuration: one TOML file, one frozen dataclass per section.

Every package declares its sections as frozen dataclasses whose fields carry
a ``doc`` and optionally a ``check`` in their metadata; ``aaad/app.py``
assembles them into one schema.  :func:`load` validates the whole file and
the environment overrides against that schema and reports *every* mistake
at once (unknown key, wrong type, bad value), each with its key path and the
file it came from, before anything binds a port.

Environment overrides: ``AAAD_<SECTION>__<KEY>=value`` (upper case, double
underscore between section and key), e.g. ``AAAD_RADIUS__AUTH_PORT=11812``.
The value is parsed as a TOML value when it parses (numbers, booleans,
quoted strings, arrays), otherwise taken as a plain string.
"""
from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "AAAD_"


def setting(default: Any, doc: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """Declare a config key with its default, its documentation and a check.

    ``check`` returns an error message for a bad value, or None.
    """
    meta = {"doc": doc, "check": check}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(type(default), default), metadata=meta)
    return field(default=default, metadata=meta)


# -- reusable checks ---------------------------------------------------------

def port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "must be a port number between 0 and 65535"


def positive(v: float) -> str | None:
    return None if v > 0 else "must be greater than 0"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def nice_step(v: int) -> str | None:
    return None if 0 <= v <= 19 else "must be between 0 and 19 (a nice value step)"


def ip_address(v: str) -> str | None:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return f"{v!r} is not an IP address"
    return None


def wall_time(v: str) -> str | None:
    """A local time of day, HH:MM (a daily job's start in each org's time zone)."""
    return None if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) else "a local time HH:MM"


def http_url(v: str) -> str | None:
    """Empty, or an absolute http(s) URL with a host and no query or fragment."""
    if v == "":
        return None
    u = urllib.parse.urlsplit(v)
    if u.scheme not in ("http", "https") or not u.hostname:
        return f"{v!r} is not an http:// or https:// URL with a host"
    if u.query or u.fragment or "?" in v or "#" in v:
        return f"{v!r} must not have a query (?...) or fragment (#...)"
    try:
        _ = u.port  # parsing it raises ValueError for a bad port
    except ValueError:
        return f"{v!r} has a bad port"
    return None


def one_of(*choices: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}"
    return check


# -- errors --------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigError:
    path: str
    message: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}"


class ConfigErrors(Exception):
    """All the mistakes found in one configuration, reported together."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# -- loading -------------------------------------------------------------------

class Config:
    """The validated configuration: ``config.radius.auth_port`` and so on."""

    def __init__(self, sections: Mapping[str, Any], path: str | None):
        self._sections = dict(sections)
        self.path = path

    def __getattr__(self, name: str) -> Any:
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def section(self, name: str) -> Any:
        return self._sections[name]

    def replace(self, name: str, **changes: Any) -> Config:
        """A copy with some keys of one section changed (tests, CLI flags)."""
        new = dict(self._sections)
        new[name] = dataclasses.replace(new[name], **changes)
        return Config(new, self.path)


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check ``value`` against a field type; return (ok, coerced value)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            return False, value
        out = []
        for x in value:
            ok, v = _type_ok(x, item)
            if not ok:
                return False, value
            out.append(v)
        return True, out
    if origin is dict:
        return isinstance(value, dict), value
    return isinstance(value, tp), value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "absent"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, tuple[Any, str]]]:
    """Collect ``AAAD_SECTION__KEY`` variables: {section: {key: (value, var)}}."""
    out: dict[str, dict[str, tuple[Any, str]]] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var[len(ENV_PREFIX):]:
            continue
        sect, key = var[len(ENV_PREFIX):].split("__", 1)
        out.setdefault(sect.lower(), {})[key.lower()] = (_parse_env_value(raw), var)
    return out


def load(schema: Mapping[str, type], path: str | Path | None = None,
         environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate; raise :class:`ConfigErrors` listing every error."""
    environ = os.environ if environ is None else environ
    errors: list[ConfigError] = []
    source = str(path) if path else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigErrors([ConfigError("-", "file not found", source)]) from None
        except IsADirectoryError:
            raise ConfigErrors([ConfigError("-", "is a directory, not a config file", source)]) from None
        except OSError as e:  # permission denied, I/O error, ...
            raise ConfigErrors([ConfigError("-", f"cannot be read ({e.strerror or e})", source)]) from None
        except UnicodeDecodeError as e:
            raise ConfigErrors([ConfigError("-", f"not valid TOML: not UTF-8 text ({e.reason})", source)]) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigErrors([ConfigError("-", f"not valid TOML: {e}", source)]) from None

    values: dict[str, dict[str, tuple[Any, str]]] = {}
    for sect, body in data.items():
        if sect not in schema:
            errors.append(ConfigError(sect, "unknown section", source))
            continue
        if not isinstance(body, dict):
            errors.append(ConfigError(sect, "must be a table ([section])", source))
            continue
        values[sect] = {k: (v, source) for k, v in body.items()}
    for sect, body in env_overrides(environ).items():
        for key, (v, var) in body.items():
            if sect not in schema:
                errors.append(ConfigError(f"{sect}.{key}", "unknown section", f"environment {var}"))
                continue
            values.setdefault(sect, {})[key] = (v, f"environment {var}")

    sections: dict[str, Any] = {}
    for sect, cls in schema.items():
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        given = values.get(sect, {})
        kwargs: dict[str, Any] = {}
        for key, (value, src) in given.items():
            fld = known.get(key)
            if fld is None:
                errors.append(ConfigError(f"{sect}.{key}", "unknown key", src))
                continue
            ok, coerced = _type_ok(value, hints[key])
            if not ok:
                errors.append(ConfigError(
                    f"{sect}.{key}", f"must be {_type_name(hints[key])}, got {value!r}", src))
                continue
            check = fld.metadata.get("check")
            msg = check(coerced) if check else None
            if msg:
                errors.append(ConfigError(f"{sect}.{key}", msg, src))
                continue
            kwargs[key] = coerced
        try:
            sections[sect] = cls(**kwargs)
        except ValueError as e:  # cross-field checks in __post_init__
            errors.append(ConfigError(sect, str(e), source))
    if errors:
        raise ConfigErrors(errors)
    return Config(sections, str(path) if path else None)


def document(schema: Mapping[str, type]) -> str:
    """Render every section and key with its default and doc, as TOML comments."""
    lines: list[str] = []
    for sect, cls in schema.items():
        lines.append(f"[{sect}]")
        if cls.__doc__:
            lines.extend(f"# {ln.strip()}" for ln in cls.__doc__.strip().splitlines())
        for f in dataclasses.fields(cls):
            default = f.default
            if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            lines.append(f"# {f.metadata.get('doc', '')}")
            lines.append(f"#{f.name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


# -- the core's own sections ------------------------------------------------

@dataclass(frozen=True)
class ServerConfig:
    """Process-wide settings."""
    data_dir: str = setting("var/aaad", "Directory for the SQLite database, the secret key, RRD files and journals. "
                                        "Created if missing.")
    log_level: str = setting("info", "Minimum level logged to stdout: debug, info, warn, error. info includes the web "
                                      "server's access log (one line a page; /api/ logs its own); warn and error leave "
                                      "it out.",
                             one_of("debug", "info", "warn", "error"))
    ready_file: str = setting("", "If set, write the bound ports as JSON to this file once every listener is up (tests"
                                  " and supervisors use it).")
    stop_timeout: float = setting(10.0, "Seconds SIGTERM waits for pending work (the database writer, the read pool) "
                                        "before the process exits anyway; with a hung database, what is still queued "
                                        "is not acknowledged, so nothing acknowledged is lost.", positive)
    min_free_mb: int = setting(100, "/healthz reports unhealthy when the file system of data_dir has less than this "
                                    "many MB free (0: never).", non_negative)
    log_repeat_interval: float = setting(10.0, "A warning or error that repeats (the same message, e.g. every request "
                                               "failing during a database outage) is logged at most once per this "
                                               "many seconds, with a count of those held back (0: log every one).",
                                         non_negative)
    switch_interval_ms: float = setting(
        0.5, "How long a busy thread (a web page's database read, the writer, a job) may keep Python's "
             "interpreter lock while the reactor waits for it (sys.setswitchinterval, in ms; Python's default is 5). "
             "Every RADIUS request that arrives while such a thread runs waits up to this long.", positive)


@dataclass(frozen=True)
class DatabaseConfig:
    """The database. SQLite by default (one file in data_dir); PostgreSQL by URL for production."""
    url: str = setting("", "SQLAlchemy URL. Empty: sqlite:///<data_dir>/aaad.db. PostgreSQL: "
                           "postgresql+psycopg://user:pass@host/dbname.")
    sqlite_synchronous: str = setting(
        "NORMAL", "SQLite synchronous pragma. NORMAL survives a killed process but may lose the last commits on a "
                  "power cut; FULL survives power cuts at some cost in write speed.",
        one_of("NORMAL", "FULL"))
    busy_timeout_ms: int = setting(10000, "How long a SQLite writer waits for the lock held by another process (e.g. "
                                          "the CLI) before failing. The daemon's writer asks for it every millisecond "
                                          "meanwhile.", positive)
    job_commit_gap_ms: float = setting(
        5.0, "SQLite: a job run from the command line (aaad jobs run) pauses this long after each chunk it commits, "
             "so the daemon's writer, which asks for the lock every millisecond, gets it between two chunks: "
             "accounting waits at most one chunk, not the whole run. 0: no pause.", non_negative)
    read_pool_size: int = setting(4, "Threads that run database reads (the console, the API, jobs).", positive)
    portal_read_pool_size: int = setting(
        2, "Threads that run the customer portal's reads. They keep the daemon's CPU priority (the other read "
           "threads run background_nice nicer), so a customer's page is not starved by RADIUS load.", positive)
    writer_batch_max: int = setting(1000, "Most write operations the writer thread commits in one transaction (group "
                                          "commit).", positive)
    writer_queue_max: int = setting(20000, "Most write operations waiting for the writer. Beyond it new writes fail at"
                                           " once (new accounting is not answered, so NASes retransmit): a database "
                                           "outage cannot grow memory without bound.", positive)
    background_nice: int = setting(
        10, "Linux: how much nicer (lower CPU priority) the database threads run while doing what no RADIUS request "
            "waits on: the read threads (the API, the console, jobs, the change poll; not the portal's) always, the "
            "writer while it "
            "writes only the auth log, so on a busy core RADIUS requests get the CPU first. 0: off. The writer "
            "needs root or CAP_SYS_NICE to switch back (without, its part stays off).", nice_step)
    background_sched: str = setting(
        "idle", "Linux: how the writer lowers itself while it writes only the auth log, or bulk work nobody waits "
                "on now (a mass event's delivery). idle: SCHED_IDLE, so a "
                "RADIUS request that arrives takes the core at once (open-loop auth p99 at half the maximum rate "
                "about halved); nice: by background_nice only. Either way a write someone waits on (accounting, "
                "billing) raises it back at once, and the auth log's batches go at full priority once 4 of them "
                "wait. Off when background_nice is 0.", one_of("idle", "nice"))
    writer_stall_seconds: float = setting(10.0, "/healthz reports unhealthy when one writer transaction has been "
                                                "running this long (a hung database).", positive)
    connect_timeout: int = setting(10, "PostgreSQL: seconds to wait for a connection before failing (TCP keepalives "
                                       "are on as well, so a vanished server fails a connection instead of hanging "
                                       "it).", positive)
    statement_timeout: float = setting(0.0, "PostgreSQL: seconds after which the server cancels a statement (0: no "
                                            "limit). Jobs commit in chunks, so a few minutes is safe.", non_negative)
    change_poll_interval: float = setting(0.25, "Seconds between polls of the change feed (aaa_changes) and the event "
                                                "outbox for rows written by other processes.", positive)


@dataclass(frozen=True)
class SecretsConfig:
    """Encryption of secrets at rest (NAS secrets, login passwords, router API passwords)."""
    key_file: str = setting("", "Path of the 32-byte key file. Empty: <data_dir>/secret.key. Generated on first run "
                                "with mode 0600 if absent. Losing it makes stored secrets unreadable; back it up with "
                                "the database.")


@dataclass(frozen=True)
class WebConfig:
    """The HTTP listener: the landing page, /healthz, /metrics, /api/v1/, /{org}/portal/, /static/."""
    address: str = setting("127.0.0.1", "Address to listen on.", ip_address)
    port: int = setting(8080, "TCP port; 0 picks a free one.", port)
    public_url: str = setting(
        "", "The address customers and routers reach the web side at, e.g. https://portal.example.net or "
            "https://isp.example/aaad (links in messages, QR codes, the walled garden's redirect to "
            "/{org}/portal/suspended). An http(s) URL without query. Empty: derived from address and port "
            "(127.0.0.1 when listening on every address), which only this machine can reach: set it when the web "
            "side sits behind a proxy or is reached from the LAN.",
        http_url)
    tls_cert: str = setting("", "PEM certificate (chain) file: with tls_key, the web side (API, portal) is served "
                                "over HTTPS only, on the same port. Empty: plain HTTP (put a TLS proxy in front "
                                "when it is reached beyond this machine).")
    tls_key: str = setting("", "PEM private key file of tls_cert (readable by the daemon only).")

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together: set both (HTTPS) or neither (HTTP)")
        for f in (self.tls_cert, self.tls_key):
            if f and not os.path.isfile(f):
                raise ValueError(f"{f}: no such file")


@dataclass(frozen=True)
class JobsConfig:
    """Periodic jobs (aggregation, cleanup, billing)."""
    enabled: bool = setting(True, "Run periodic jobs and dispatch events in this instance. Instances sharing a "
                                  "database (or a data directory) take a leader lock, so only one runs them.")
    skip: list[str] = setting([], "Jobs this instance never starts on its own (e.g. [\"billing.dunning\"] to "
                                  "run dunning by hand or from cron); `aaad jobs run NAME` still runs them. Events "
                                  "are dispatched as usual.")
    tick: float = setting(1.0, "Seconds between scheduler checks for due jobs (and leader lock checks).", positive)
    unhealthy_after_failures: int = setting(3, "/healthz reports unhealthy when a job's latest period failed this many"
                                               " attempts, or its last this many periods all failed.", positive)
    lease: float = setting(300.0, "Seconds a runner holds a job period without a checkpoint before another may take it"
                                  " over.", positive)
    event_max_attempts: int = setting(10, "Deliveries of an event a subscriber may fail before it is parked as dead "
                                          "(aaad events --dead).", positive)
    event_backoff: float = setting(1.0, "Seconds before the first retry of a failed delivery; doubles with each "
                                        "failure.", positive)
    event_max_backoff: float = setting(3600.0, "Longest wait between retries of a failed delivery.", positive)
    cycle_check_interval: int = setting(300, "Seconds between checks for logins past their quota-cycle boundary (an "
                                             "exhausted login is active again at most this long after its new cycle "
                                             "starts).", positive)
