"""/api/v1/: the admin API's sub-application.

Every route is declared once (``web.api.declare``) in a resource module
(``web.api.resources``); this module serves them: it authenticates the bearer
token, applies its rate limit and read-only rule, settles the org the call
acts on, validates the path, query and body with the route's models, runs the
handler, renders its answer, remembers it under an Idempotency-Key, logs one
line and observes the latency.  Every error is JSON,
``{"error": {"code", "message", "field"}}``; no stack trace ever reaches a
client: an unexpected failure is logged with an id the 500 carries.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import pydantic
from klein import Klein
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from aaad import authz, orgs
from aaad.clock import utcnow
from aaad.errors import NotFound, ValidationError
from web import apistore, tokens
from web.api.declare import Call, Endpoint, Raw
from web.errors import HttpError, classify, set_header
from web.pages import json_body, json_headers

API_VERSION = "v1"
ORG_HEADER = "X-Aaad-Org"
IDEMPOTENCY_HEADER = "Idempotency-Key"

log = Logger()

#: What an X-Aaad-Org header may hold (the document's pattern for it).
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class ApiError(Exception):
    """An answer other than success, decided by the API itself (401, 403, 409, 429...)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = tuple(headers)


class Replay(Exception):
    """Answer with a remembered response."""

    def __init__(self, status: int, content_type: str, body: bytes):
        super().__init__(status)
        self.status, self.content_type, self.body = status, content_type, body


class Deps:
    """What the handlers use: the core's parts and the services built on them."""

    def __init__(self, core: Any, conf: Any, services: dict[str, Any] | None = None):
        self.core = core
        self.db = core.db
        self.clock = core.clock
        self.box = core.box
        self.login_writer = core.login_writer
        self.conf = conf               # the whole Config
        self.services = services or {}


class Limiter:
    """A token bucket per API token: ``rate`` per second, ``burst`` at once."""

    def __init__(self, clock: Any, rate: float, burst: int):
        self.clock, self.rate, self.burst = clock, rate, burst
        self.buckets: dict[int, tuple[float, float]] = {}    # token id -> (level, at)

    def take(self, token_id: int) -> float:
        """0 when the request may go; else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock.seconds()
        level, at = self.buckets.get(token_id, (float(self.burst), now))
        level = min(float(self.burst), level + (now - at) * self.rate)
        if level < 1.0:
            self.buckets[token_id] = (level, now)
            return (1.0 - level) / self.rate
        self.buckets[token_id] = (level - 1.0, now)
        return 0.0


class _Call(Call):
    def __init__(self, api: Api, ep: Endpoint, token: tokens.Token, org_id: int | None, now: datetime,
                 idem: tuple[str, str] | None):
        self.api, self.ep, self.token, self.now = api, ep, token, now
        self.org_id = org_id  # type: ignore[assignment]
        self.deps = api.deps
        self.idem = idem
        self.claimed = False

    def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.api.db.read(fn, *args, **kwargs)

    def read_out(self, out: Callable[[Any], Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def both(conn: Any) -> Any:
            return out(fn(conn, *args, **kwargs))
        return self.api.db.read(both)

    def write(self, fn: Callable[..., Any], *args: Any, target: str = "",
              before: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        idem = None if self.claimed else self.idem
        token, ep, now = self.token, self.ep, self.now
        since = now - timedelta(hours=self.api.conf.idempotency_hours)

        def tx(conn: Any) -> Any:
            if idem is not None:
                apistore.claim(conn, token.id, idem[0], idem[1], now, since)
            prior = before(conn) if before is not None else None
            result = fn(conn, *args, **kwargs)
            apistore.record(conn, org_id=self.org_id, token_id=token.id, token_name=token.name, at=now,
                            method=ep.method, route=ep.path, target=target, before=prior, after=result)
            return result

        d: defer.Deferred[Any] = self.api.db.write(tx)
        if idem is not None:
            def claimed(result: Any) -> Any:
                self.claimed = True
                return result
            d.addCallback(claimed)
        return d


class Api:
    """The routes of /api/v1/, built with the services they call."""

    # Relative to the web root; set once the OpenAPI documentation is served.
    docs_path: str | None = None

    def __init__(self, aaad_version: str, deps: Deps | None = None, endpoints: Sequence[Endpoint] | None = None):
        self.aaad_version = aaad_version
        self.deps = deps
        self.app = Klein()
        self.endpoints: list[Endpoint] = []
        self.app.route("/", methods=["GET"])(self.index)
        self.app.handle_errors(Exception)(self.error)
        if deps is None:
            return
        self.conf = deps.conf.api
        self.clock = deps.clock
        self.db: Any = deps.db
        self.limiter = Limiter(deps.clock, self.conf.rate, self.conf.burst)
        self._tokens: dict[str, tuple[tokens.Token, float]] = {}
        self._touched: dict[int, float] = {}
        self._org_ids: dict[str, int] = {}
        stats = deps.core.stats
        self.latency = stats.histogram("aaad_api_request_seconds", "Admin API requests by route, method "
                                       "and status: latency in seconds.", ("route", "method", "status"))
        if endpoints is None:
            from web.api.resources import all_endpoints
            endpoints = all_endpoints()
        for ep in endpoints:
            self._mount(ep)
        self.app.route("/openapi.json", methods=["GET"])(self.openapi_json)
        self.app.route("/docs", methods=["GET"])(self.docs)
        self.docs_path = "api/v1/docs"

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the mounted routes, built on first use: pydantic's schema
        generation takes 0.1-0.2 s, which start-up (and every test building a web root) need not pay."""
        from web.api import openapi
        return openapi.document(self.endpoints, self.aaad_version)

    # -- the fixed routes ----------------------------------------------------------------

    def index(self, request: IRequest) -> bytes:
        """What this API is: its name and version, and aaad's."""
        return json_body(request, {"name": "aaad admin API", "api_version": API_VERSION,
                                   "aaad_version": self.aaad_version, "docs": self.docs_path,
                                   "openapi": "api/v1/openapi.json" if self.deps else None})

    @functools.cached_property
    def document_json(self) -> bytes:
        """:attr:`document` as JSON, encoded once (600 KB: 10 ms of the reactor a request otherwise)."""
        return json.dumps(self.document).encode("utf-8")

    def openapi_json(self, request: IRequest) -> bytes:
        """The OpenAPI 3.1 document, generated from the route declarations."""
        json_headers(request)
        return self.document_json

    @functools.cached_property
    def docs_html(self) -> bytes:
        """The reference page of :attr:`document`, rendered once."""
        from web.api import openapi
        return openapi.render_docs(self.document)

    def docs(self, request: IRequest) -> bytes:
        """A readable reference of every route (no script, nothing from elsewhere)."""
        set_header(request, "Content-Type", "text/html; charset=utf-8")
        set_header(request, "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        set_header(request, "X-Content-Type-Options", "nosniff")
        return self.docs_html

    def error(self, request: Any, failure: Failure) -> bytes:
        """Routing errors (no such path, method not allowed) and anything the fixed routes raise."""
        err = classify(failure, request)
        return self._error_body(request, _from_http(err))

    # -- serving a declared route ----------------------------------------------------------

    def _mount(self, ep: Endpoint) -> None:
        authz.PERMISSIONS[ep.permission]  # every route is classified (web.api.permissions), or start fails
        def serve(request: IRequest, **params: str) -> defer.Deferred[bytes]:
            return defer.ensureDeferred(self._serve(ep, request, params))
        serve.__name__ = f"{ep.method.lower()}_{ep.operation_id}"
        self.app.route(ep.klein_path, methods=[ep.method], endpoint=serve.__name__)(serve)
        self.endpoints.append(ep)

    async def _serve(self, ep: Endpoint, request: IRequest, params: dict[str, str]) -> bytes:
        t0 = time.perf_counter()
        token: tokens.Token | None = None
        status = 500
        try:
            token = await self._authenticate(request)
            wait = self.limiter.take(token.id)
            if wait:
                raise ApiError(429, "rate_limited", f"Too many requests for this token; retry in {wait:.1f} s.",
                               headers=(("Retry-After", str(max(1, int(wait + 0.999)))),))
            if ep.write and token.read_only:
                raise ApiError(403, "forbidden", "This token is read-only.")
            if not token.platform and not authz.allowed(token.role, ep.permission):
                raise ApiError(403, "forbidden", f"This token's role ({token.role}) may not do this: it needs "
                               f"{ep.permission} ({', '.join(sorted(authz.PERMISSIONS[ep.permission]))}).")
            org_id = await self._org(request, token, ep)
            kwargs = self._inputs(ep, request, params)
            idem = self._idempotency(request, ep)
            if idem is not None:
                await self._replay_if_known(token, idem)
            call = _Call(self, ep, token, org_id, utcnow(self.clock), idem)
            try:
                result = await ep.handler(call, **kwargs)
                status, content_type, body = self._render(ep, request, result)
            except apistore.KeyTaken:
                # A request with the same key won the race to claim it: answer as a retry would be.
                assert idem is not None
                await self._replay_if_known(token, idem)
                raise ApiError(409, "in_progress", "A request with this Idempotency-Key did not finish; retry "
                               "later.", field=IDEMPOTENCY_HEADER) from None
            except Exception as e:
                if call.claimed and idem is not None:
                    status, content_type, body = self._failure_response(Failure(e), request)
                    await self._remember(token, idem, status, content_type, body)
                raise
            if idem is not None and call.claimed:
                await self._remember(token, idem, status, content_type, body)
            request.setResponseCode(status)
            set_header(request, "Content-Type", content_type)
            set_header(request, "X-Content-Type-Options", "nosniff")
            set_header(request, "Cache-Control", "no-store")
            return body
        except Replay as r:
            status = r.status
            request.setResponseCode(r.status)
            set_header(request, "Content-Type", r.content_type)
            set_header(request, "Idempotent-Replayed", "true")
            return r.body
        except Exception as e:
            f = Failure(e)
            status, content_type, body = self._failure_response(f, request)
            request.setResponseCode(status)
            set_header(request, "Content-Type", content_type)
            set_header(request, "X-Content-Type-Options", "nosniff")
            if isinstance(e, ApiError):
                for name, value in e.headers:
                    set_header(request, name, value)
            return body
        finally:
            secs = time.perf_counter() - t0
            self.latency.observe(secs, ep.path, ep.method, str(status))
            if self.conf.request_log:
                log.info("api {token} {method} {route} {status} {ms:.1f} ms",
                         token=token.name if token else "-", method=ep.method, route=ep.path, status=status,
                         ms=secs * 1000)

    # -- authentication and scope ------------------------------------------------------------

    async def _authenticate(self, request: IRequest) -> tokens.Token:
        header = _header(request, "Authorization") or ""
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "Send a token: 'Authorization: Bearer TOKEN' "
                                                "(create one with `aaad token create`).",
                           headers=(("WWW-Authenticate", 'Bearer realm="aaad"'),))
        secret = secret.strip()
        now = self.clock.seconds()
        cached = self._tokens.get(secret)
        if cached is not None and now - cached[1] < self.conf.token_cache_seconds:
            token = cached[0]
        else:
            found = await self.db.read(tokens.by_secret, secret) if len(secret) < 200 else None
            if found is None:
                self._tokens.pop(secret, None)
                raise ApiError(401, "unauthorized", "This token is not known.",
                               headers=(("WWW-Authenticate", 'Bearer realm="aaad", error="invalid_token"'),))
            token = found
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[secret] = (token, now)
        if not token.usable(utcnow(self.clock)):
            raise ApiError(401, "unauthorized", "This token has been revoked or has expired.",
                           headers=(("WWW-Authenticate", 'Bearer realm="aaad", error="invalid_token"'),))
        if now - self._touched.get(token.id, -1e9) >= 60:
            self._touched[token.id] = now
            d = self.db.write(tokens.touch, {token.id: utcnow(self.clock)})
            d.addErrback(lambda f: log.warn("could not record a token's last use: {e}", e=f.getErrorMessage()))
        return token

    async def _org(self, request: IRequest, token: tokens.Token, ep: Endpoint) -> int | None:
        named = _header(request, ORG_HEADER)
        if named is not None and not _SLUG.fullmatch(named):
            raise ApiError(400, "invalid", f"{ORG_HEADER} is an org's slug (lower-case letters, digits, '-').",
                           field=ORG_HEADER)
        if ep.platform:
            if not token.platform:
                raise ApiError(403, "forbidden", "Only a platform token manages organisations.")
            return None
        if not token.platform:
            # An org token may name its own org; naming any other (known or not) is refused alike.
            if named and await self._org_id(named, unknown_ok=True) != token.org_id:
                raise ApiError(403, "forbidden", f"This token acts on its own org only; drop {ORG_HEADER}.",
                               field=ORG_HEADER)
            return token.org_id
        if not ep.scoped:
            return None
        if not named:
            raise ApiError(400, "org_required", f"A platform token names the org it acts on: "
                                                f"'{ORG_HEADER}: SLUG'.", field=ORG_HEADER)
        return await self._org_id(named)

    async def _org_id(self, slug: str, unknown_ok: bool = False) -> int | None:
        """The id of the org ``slug`` (cached: orgs are never removed); 400 when there is none."""
        org_id = self._org_ids.get(slug)
        if org_id is None:
            org = await self.db.read(orgs.get_by_slug, slug)
            if org is None:
                if unknown_ok:
                    return None
                raise ApiError(400, "invalid", f"No org {slug!r}.", field=ORG_HEADER)
            org_id = self._org_ids[slug] = org.id
        return org_id

    # -- inputs --------------------------------------------------------------------------------

    def _inputs(self, ep: Endpoint, request: IRequest, params: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        if ep.path_model is not None:
            try:
                kwargs["path"] = ep.path_model.model_validate(params)
            except pydantic.ValidationError as e:
                # A path that names no valid id names nothing: 404, as for an unknown id.
                raise NotFound(ep.tag.rstrip("s"), next(iter(params.values()), "")) from e
        if ep.query_model is not None:
            args = {k.decode("utf-8", "replace"): v[-1].decode("utf-8", "replace")
                    for k, v in (request.args or {}).items() if v}
            try:
                kwargs["query"] = ep.query_model.model_validate(args)
            except pydantic.ValidationError as e:
                problems += _problems(e, "")
        if ep.body_model is not None:
            raw = request.content.read() if request.content is not None else b""
            if not raw.strip() and not any(f.is_required() for f in ep.body_model.model_fields.values()):
                kwargs["body"] = ep.body_model.model_validate({})
            elif not raw.strip():
                problems.append({"field": "body", "message": "A JSON object is required.", "code": "missing"})
            else:
                try:
                    kwargs["body"] = ep.body_model.model_validate_json(raw)
                except pydantic.ValidationError as e:
                    if any(err["type"] == "json_invalid" for err in e.errors()):
                        raise ApiError(400, "bad_json", "The body is not valid JSON.", field="body") from None
                    problems += _problems(e, "")
        if problems:
            raise _Invalid(problems)
        return kwargs

    # -- idempotency ---------------------------------------------------------------------------

    def _idempotency(self, request: IRequest, ep: Endpoint) -> tuple[str, str] | None:
        key = _header(request, IDEMPOTENCY_HEADER)
        if ep.method != "POST" or key is None:
            return None
        if not key or len(key) > 255:
            raise ApiError(400, "invalid", "An Idempotency-Key is 1 to 255 characters.", field=IDEMPOTENCY_HEADER)
        content = request.content
        raw = b""
        if content is not None:
            content.seek(0)
            raw = content.read()
            content.seek(0)
        h = hashlib.sha256(ep.method.encode() + b" " + request.path + b"?" + (request.uri.partition(b"?")[2])
                           + b"\n" + raw).hexdigest()
        return key, h

    async def _replay_if_known(self, token: tokens.Token, idem: tuple[str, str]) -> None:
        """Raise Replay with the remembered answer, or ApiError 409, when the key was used; wait for a
        first request that is still running (a race), up to 10 s."""
        since = utcnow(self.clock) - timedelta(hours=self.conf.idempotency_hours)
        for _ in range(200):
            known = await self.db.read(apistore.lookup, token.id, idem[0], since)
            if known is None:
                return
            if known.request_hash != idem[1]:
                raise ApiError(409, "idempotency_mismatch", "This Idempotency-Key was used with another "
                               "request (method, path or body); use a new key for a new request.",
                               field=IDEMPOTENCY_HEADER)
            if known.status is not None:
                raise Replay(known.status, known.content_type, known.body or b"")
            await task.deferLater(self.clock, 0.05, lambda: None)
        raise ApiError(409, "in_progress", "A request with this Idempotency-Key is still running; retry later.",
                       field=IDEMPOTENCY_HEADER)

    async def _remember(self, token: tokens.Token, idem: tuple[str, str], status: int, content_type: str,
                        body: bytes) -> None:
        await self.db.write(apistore.finish, token.id, idem[0], status, content_type, body)

    # -- outputs -------------------------------------------------------------------------------

    def _render(self, ep: Endpoint, request: IRequest, result: Any) -> tuple[int, str, bytes]:
        if isinstance(result, Raw):
            if result.filename:
                set_header(request, "Content-Disposition", f'inline; filename="{result.filename}"')
            return ep.status, result.content_type, result.body
        if isinstance(result, pydantic.BaseModel):
            return ep.status, "application/json", result.model_dump_json().encode("utf-8")
        raise TypeError(f"{ep.operation_id} returned {type(result).__name__}, not a model")

    def _failure_response(self, f: Failure, request: IRequest) -> tuple[int, str, bytes]:
        e = f.value
        if isinstance(e, ApiError):
            err: dict[str, Any] = {"code": e.code, "message": e.message, "field": e.field}
            status = e.status
        elif isinstance(e, _Invalid):
            first = e.problems[0]
            n = len(e.problems)
            message = first["message"] if n == 1 else f"{n} fields are invalid: " + ", ".join(
                p["field"] for p in e.problems) + "."
            err = {"code": "invalid", "message": message, "field": first["field"], "errors": e.problems}
            status = 422
        elif isinstance(e, ValidationError):
            err = {"code": "invalid", "message": e.message, "field": e.field,
                   "errors": [{"field": e.field, "message": e.message, "code": "invalid"}]}
            status = 422
        elif isinstance(e, NotFound):
            err = {"code": "not_found", "message": f"No such {e.what}.", "field": None}
            status = 404
        else:
            ref = uuid.uuid4().hex[:12]
            log.failure("api error {ref}: {method} {path} failed", f, ref=ref,
                        method=request.method.decode("ascii", "replace"),
                        path=request.path.decode("ascii", "replace"))
            err = {"code": "internal", "message": f"Something went wrong on our side; the operator's log has "
                                                  f"the details under id {ref}.", "field": None, "id": ref}
            status = 500
        body = json.dumps({"error": err}).encode("utf-8")
        return status, "application/json", body

    def _error_body(self, request: IRequest, e: ApiError) -> bytes:
        request.setResponseCode(e.status)
        for name, value in e.headers:
            set_header(request, name, value)
        return json_body(request, {"error": {"code": e.code, "message": e.message, "field": e.field}})


class _Invalid(Exception):
    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__(problems)
        self.problems = problems


def _header(request: IRequest, name: str) -> str | None:
    """A request header as text (``IRequest.getHeader``, typed)."""
    value = cast(Any, request).getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _problems(e: pydantic.ValidationError, prefix: str) -> list[dict[str, Any]]:
    out = []
    for err in e.errors(include_url=False):
        loc = [str(x) for x in err["loc"]]
        name = ".".join(loc) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "Not a known field."
        out.append({"field": prefix + name, "message": message, "code": err["type"]})
    return out


def _from_http(err: HttpError) -> ApiError:
    return ApiError(err.status, err.code, err.message, err.field, err.headers)
