"""/admin/routers, /admin/actions and /admin/messages: the routers, what enforcement sent them, and the outbox.

    /routers                         the NAS clients with their last status (filter: reachable, type, name), CSV
    /routers/new                     add a NAS (network.write); its secret and API password are write-only
    /routers/<id>                    a router: settings, status, its open sessions (Disconnect: sessions.disconnect)
    /routers/<id>/edit               change it (an empty secret or API password keeps the one stored)
    /routers/<id>/check              check it now through its RouterOS API (POST; network.read, as the API)
    /routers/<id>/provision          GET: the dry-run preview of what provisioning would change;
                                     POST: apply it (network.write)
    /routers/<id>/sessions/<s>/disconnect   a Disconnect-Request for one open session (POST)
    /actions                         enforcement's action queue (filter: state, kind, router), CSV
    /actions/<id>                    one action: attempts, outcome, Error-Cause, timings
    /actions/<id>/retry              send a failed action again (POST; network.write, as the API)
    /messages                        the notify outbox (filter: state, channel, kind), CSV (customers.read)
    /messages/<id>                   one message; retry a failed one, cancel a pending one (customers.write)

The functions are the API's (/nas, /actions, /nas/{id}/provision and /status, /messages): :mod:`aaad.nas`,
:mod:`enforcement.status_store`, :mod:`enforcement.actions`, :mod:`enforcement.provision` through the
daemon's enforcement service, :mod:`billing.notify.outbox`.  A secret is never put on a page.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import nas
from aaad.errors import NotFound, ValidationError
from accounting import store as acct_store
from billing.notify import outbox
from billing.notify.channels import CHANNELS
from billing.notify.schema import MESSAGE_STATES
from enforcement import actions, provision, status_store
from enforcement.routeros import RouterAccess, RouterError, RouterStatus
from web import forms
from web.admin.catalogue import Form
from web.admin.lists import ListArgs, csv_body, every, paged
from web.admin.section import Nav, Section

SESSIONS_SHOWN = 50
NAS_TEXT = ("name", "address", "type", "coa_port", "api_host", "api_port", "api_username")


def when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else ""


@dataclass
class Preview:
    """What provisioning would do (or did) on a router, for the page."""
    compared: bool                      # the router was read (else: the full configuration, no API)
    commands: list[str]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problem: str = ""                   # why nothing could be shown or done


# -- reads ------------------------------------------------------------------------------------------


def _router(conn: Connection, box: Any, org_id: int, nas_id: int) -> nas.Nas:
    n = nas.get(conn, box, org_id, nas_id)
    if n is None:
        raise NotFound("NAS", nas_id)
    return n


def _router_page(conn: Connection, box: Any, org_id: int, nas_id: int, cursor: str | None
                 ) -> tuple[nas.Nas, RouterStatus | None, Any]:
    n = _router(conn, box, org_id, nas_id)
    live = paged(acct_store.page_sessions, conn, org_id, cursor=cursor, is_open=True, nas_id=nas_id,
                      limit=SESSIONS_SHOWN)
    return n, status_store.last(conn, org_id, nas_id), live


def _router_filters(args: ListArgs) -> dict[str, Any]:
    f, out = args.filters, dict[str, Any]()
    if f.get("reachable") in ("true", "false"):
        out["reachable"] = f["reachable"] == "true"
    if f.get("type") in nas.NAS_TYPES:
        out["type"] = f["type"]
    if f.get("q"):
        out["q"] = f["q"][:100]
    return out


def _action_filters(args: ListArgs) -> dict[str, Any]:
    f, out = args.filters, dict[str, Any]()
    if f.get("state") in actions.STATES:
        out["state"] = f["state"]
    if f.get("kind") in actions.KINDS:
        out["kind"] = f["kind"]
    if f.get("nas_id", "").isdigit():
        out["nas_id"] = int(f["nas_id"])
    return out


def _message_filters(args: ListArgs) -> dict[str, Any]:
    f, out = args.filters, dict[str, Any]()
    if f.get("state") in MESSAGE_STATES:
        out["state"] = f["state"]
    if f.get("channel") in CHANNELS:
        out["channel"] = f["channel"]
    if f.get("kind"):
        out["kind"] = f["kind"][:40]
    return out


def _options(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("", "Any"), *((v, v.replace("_", " ")) for v in values)]


def _names(conn: Connection, box: Any, org_id: int) -> dict[int, str]:
    return {n.id: n.name for n in nas.list_all(conn, box, org_id)}


class Network(Section):
    """Routers, the action queue and the message outbox."""

    app = Klein()
    paths = ("routers", "actions", "messages")
    nav = (Nav("routers", "Routers", "network.read"), Nav("actions", "Router actions", "network.read"),
           Nav("messages", "Messages", "customers.read"))
    lists = frozenset({"routers", "actions", "messages"})

    def _service(self) -> Any:
        return self.deps.services.get("enforcement")

    # -- routers --------------------------------------------------------------------------------

    @app.route("/routers", methods=["GET"])
    @defer.inlineCallbacks
    def routers(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The routers with their last status; ``?reachable=false``: those down (the dashboard's figure)."""
        who = yield self.require(request, "network.read")
        args = ListArgs.from_request(request, filters=("reachable", "type", "q"))
        box, f = self.deps.box, _router_filters(args)
        if args.csv:
            found = yield self.read(lambda conn: list(every(status_store.page_routers, conn, box, who.org_id,
                                                                **f)))
            return csv_body(request, "routers",
                            ["id", "name", "address", "type", "api", "reachable", "version", "board", "identity",
                             "error", "checked_at"],
                            ([r.nas.id, r.nas.name, r.nas.address, r.nas.type, "yes" if r.nas.api_username else "no",
                              "" if r.status is None else ("yes" if r.status.reachable else "no"),
                              *((r.status.version or "", r.status.board or "", r.status.identity or "",
                                 r.status.error or "", when(r.status.checked_at)) if r.status else ("",) * 5)]
                             for r in found))
        found = yield self.read(lambda conn: paged(status_store.page_routers, conn, box, who.org_id,
                                                     cursor=args.cursor, **f))
        return self.render(request, "admin/network/routers.html", who, routers=found.items, args=args,
                           next_cursor=found.next_cursor, when=when, types=nas.NAS_TYPES)

    @app.route("/routers/<int:nas_id>", methods=["GET"])
    @defer.inlineCallbacks
    def router(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        """A router: its settings (never its secrets), status and open sessions."""
        who = yield self.require(request, "network.read")
        page = yield self._router_page(request, who, nas_id)
        return page

    @defer.inlineCallbacks
    def _router_page(self, request: IRequest, who: Any, nas_id: int, notice: str = "",
                     status: RouterStatus | None = None) -> Generator[Any, Any, bytes]:
        cursor = forms.arg(request, "after", 200) or None
        n, last, live = yield self.read(_router_page, self.deps.box, who.org_id, nas_id, cursor)
        return self.render(request, "admin/network/router.html", who, nas=n, status=status or last,
                           sessions=live.items, next_cursor=live.next_cursor, when=when, notice=notice,
                           has_api=bool(n.api_username), service=self._service() is not None)

    def _nas_form(self, request: IRequest, who: Any, n: nas.Nas | None, typed: dict[str, str],
                  errors: dict[str, str]) -> bytes:
        return self.render(request, "admin/network/router_form.html", who, nas=n, form=typed, errors=errors,
                           types=[(t, t) for t in nas.NAS_TYPES])

    @app.route("/routers/new", methods=["GET"])
    @defer.inlineCallbacks
    def router_new(self, request: IRequest) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "network.write")
        typed = {k: "" for k in NAS_TEXT}
        typed.update(type="mikrotik", coa_port="3799", require_message_authenticator="1", api_tls="")
        return self._nas_form(request, who, None, typed, {})

    def _read_nas(self, request: IRequest, adding: bool) -> tuple[Form, dict[str, Any]]:
        form = Form(request, NAS_TEXT)
        for box in ("require_message_authenticator", "api_tls"):
            form.typed[box] = "1" if form.ticked(box) else ""
        secret, api_password = forms.arg(request, "secret", 200), forms.arg(request, "api_password", 200)
        values: dict[str, Any] = {"name": form.typed["name"], "address": form.typed["address"],
                                  "type": form.typed["type"] or "mikrotik",
                                  "require_message_authenticator": form.ticked("require_message_authenticator"),
                                  "api_tls": form.ticked("api_tls"), "api_host": form.text("api_host"),
                                  "api_username": form.text("api_username")}
        form.require("name", "Type a name for the router.")
        form.require("address", "Type the address (or network) the router sends RADIUS from.")
        if adding and not secret:
            form.errors["secret"] = "Type the RADIUS shared secret (the same as on the router)."
        for k, default in (("coa_port", 3799), ("api_port", None)):
            t = form.typed[k]
            if not t:
                values[k] = default
            elif t.isdigit() and 1 <= int(t) <= 65535:
                values[k] = int(t)
            else:
                form.errors[k] = "A port number, 1 to 65535."
        if len(secret) > 128:
            form.errors["secret"] = "At most 128 characters."
        if secret:
            values["secret"] = secret
        if api_password:
            values["api_password"] = api_password
        elif forms.arg(request, "clear_api_password", 5):
            values["api_password"] = None
        return form, values

    @app.route("/routers", methods=["POST"])
    @defer.inlineCallbacks
    def router_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a NAS client: it may send requests within a second."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        form, values = self._read_nas(request, adding=True)
        if not form.errors:
            name, address, secret = values.pop("name"), values.pop("address"), values.pop("secret")
            try:
                n = yield self.write(request, who, "network.write", nas.add, self.deps.box, who.org_id, name, address,
                                     secret, self.now(), target=f"nas {name}", after=_safe, **values)
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"routers/{n.id}")
        request.setResponseCode(400)
        return self._nas_form(request, who, None, form.typed, form.errors)

    @app.route("/routers/<int:nas_id>/edit", methods=["GET"])
    @defer.inlineCallbacks
    def router_edit_form(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "network.write")
        n = yield self.read(_router, self.deps.box, who.org_id, nas_id)
        typed = {k: "" if getattr(n, k) is None else str(getattr(n, k)) for k in NAS_TEXT}
        typed.update(require_message_authenticator="1" if n.require_message_authenticator else "",
                     api_tls="1" if n.api_tls else "")
        return self._nas_form(request, who, n, typed, {})

    @app.route("/routers/<int:nas_id>/edit", methods=["POST"])
    @defer.inlineCallbacks
    def router_edit(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        """Change the NAS; an empty secret or API password keeps the stored one."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        before = yield self.read(_router, self.deps.box, who.org_id, nas_id)
        form, values = self._read_nas(request, adding=False)
        if not form.errors:
            try:
                yield self.write(request, who, "network.write", nas.update_by_id, self.deps.box, who.org_id, nas_id,
                                 self.now(), target=f"nas {nas_id}", before=_safe(before), after=_safe, **values)
            except ValidationError as e:
                form.errors[e.field] = e.message
            else:
                return self.see_other(request, self.base(request) + f"routers/{nas_id}")
        request.setResponseCode(400)
        return self._nas_form(request, who, before, form.typed, form.errors)

    @app.route("/routers/<int:nas_id>/check", methods=["POST"])
    @defer.inlineCallbacks
    def router_check(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        """Check the router now through its API and record what was found (GET /nas/{id}/status?live=true)."""
        who = yield self.require(request, "network.read")
        self.check_csrf(request, who)
        n = yield self.read(_router, self.deps.box, who.org_id, nas_id)
        svc = self._service()
        if not n.api_username:
            notice = "This router has no RouterOS API credentials: add them (Edit) to check it."
            st = None
        elif svc is None:
            notice, st = "Checking a router runs on the daemon's enforcement service, which is not running here.", None
        else:
            st = yield svc.routers.status(n)
            notice = "Checked now: " + ("the router answered." if st.reachable else f"unreachable ({st.error}).")
        page = yield self._router_page(request, who, nas_id, notice=notice, status=st)
        return page

    def _provision_settings(self, request: IRequest) -> tuple[dict[str, str], dict[str, str], Any]:
        typed = {"radius_address": forms.arg(request, "radius_address", 64).strip(),
                 "hotspot": "1" if forms.arg(request, "hotspot", 5) else ""}
        errors: dict[str, str] = {}
        conf = self.deps.conf
        address = typed["radius_address"] or provision.default_radius_address(conf)
        if typed["radius_address"]:
            try:
                address = str(ipaddress.ip_address(typed["radius_address"]))
            except ValueError:
                errors["radius_address"] = f"{typed['radius_address']!r} is not an IP address."
        elif address is None:
            errors["radius_address"] = ("aaad cannot tell which address the router reaches its RADIUS at "
                                        "([radius] address is a wildcard): type it.")
        settings = None if errors or address is None else provision.settings_from(conf, address,
                                                                                    hotspot=bool(typed["hotspot"]))
        return typed, errors, settings

    @defer.inlineCallbacks
    def _provision(self, request: IRequest, who: Any, nas_id: int, dry_run: bool
                   ) -> Generator[Any, Any, tuple[nas.Nas, dict[str, str], dict[str, str], Preview | None]]:
        n = yield self.read(_router, self.deps.box, who.org_id, nas_id)
        typed, errors, settings = self._provision_settings(request)
        if errors:
            return n, typed, errors, None
        warnings = [] if self.deps.conf.web.public_url else [
            f"[web] public_url is not set: the walled garden redirects to {settings.public_url}, which the "
            "router's customers may not reach."]
        steps = yield self.read(provision.plan_of, who.org_id, n, settings)
        access = RouterAccess.from_nas(n)
        if access is None:
            if not dry_run:
                return n, typed, errors, Preview(False, [], warnings=warnings, problem=(
                    "This router has no RouterOS API credentials: add them (Edit), or paste the commands "
                    "below into its terminal."))
            return n, typed, errors, Preview(False, [c.cli() for c in provision.script(steps)], warnings=warnings)
        svc = self._service()
        if svc is None:
            return n, typed, errors, Preview(False, [c.cli() for c in provision.script(steps)], warnings=warnings,
                                             problem="Reading the router runs on the daemon's enforcement service, "
                                                     "which is not running here: this is the full configuration.")
        try:
            result = yield svc.pool.apply(access, steps, dry_run)
        except RouterError as e:
            return n, typed, errors, Preview(False, [], warnings=warnings,
                                             problem=f"The router's API failed: {e}")
        return n, typed, errors, Preview(True, result.cli(), list(result.errors), warnings)

    @app.route("/routers/<int:nas_id>/provision", methods=["GET"])
    @defer.inlineCallbacks
    def provision_preview(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        """The dry run: the commands provisioning would send (none sent), then a button to apply them."""
        who = yield self.require(request, "network.read")
        n, typed, errors, preview = yield self._provision(request, who, nas_id, True)
        if errors:
            request.setResponseCode(400)
        return self.render(request, "admin/network/provision.html", who, nas=n, form=typed, errors=errors,
                           preview=preview, applied=False, has_api=bool(n.api_username))

    @app.route("/routers/<int:nas_id>/provision", methods=["POST"])
    @defer.inlineCallbacks
    def provision_apply(self, request: IRequest, nas_id: int) -> Generator[Any, Any, bytes]:
        """Apply the provisioning previewed (the write is audited with the commands sent)."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        n, typed, errors, preview = yield self._provision(request, who, nas_id, False)
        if errors:
            request.setResponseCode(400)
        elif preview is not None and preview.compared:
            done = {"nas_id": n.id, "commands": preview.commands, "errors": preview.errors}
            yield self.write(request, who, "network.write", lambda conn: done, target=f"nas {n.id}")
        elif preview is not None:
            request.setResponseCode(409)
        return self.render(request, "admin/network/provision.html", who, nas=n, form=typed, errors=errors,
                           preview=preview, applied=True, has_api=bool(n.api_username))

    @app.route("/routers/<int:nas_id>/sessions/<int:session_id>/disconnect", methods=["POST"])
    @defer.inlineCallbacks
    def disconnect(self, request: IRequest, nas_id: int, session_id: int) -> Generator[Any, Any, bytes]:
        """Queue a Disconnect-Request for one open session on this router."""
        who = yield self.require(request, "sessions.disconnect")
        self.check_csrf(request, who)
        yield self.read(_router, self.deps.box, who.org_id, nas_id)
        a = yield self.write(request, who, "sessions.disconnect", actions.disconnect_session, who.org_id, session_id,
                             self.now(), reason="console disconnect", target=f"session {session_id}")
        svc = self._service()
        if svc is not None:
            svc.sender.kick()
        page = yield self._router_page(request, who, nas_id, notice=(
            f"Disconnect of {a.username} queued (action {a.id}): the router is asked at once."))
        return page

    # -- the action queue -----------------------------------------------------------------------

    @app.route("/actions", methods=["GET"])
    @defer.inlineCallbacks
    def actions_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """What enforcement sent (or will send) the routers, newest first; ``?state=failed``."""
        who = yield self.require(request, "network.read")
        args = ListArgs.from_request(request, filters=("state", "kind", "nas_id"))
        f, box = _action_filters(args), self.deps.box
        if args.csv:
            found, names = yield self.read(lambda conn: (list(every(actions.page_actions, conn, who.org_id,
                                                                        **f)), _names(conn, box, who.org_id)))
            return csv_body(request, "actions",
                            ["id", "created_at", "kind", "cause", "username", "router", "state", "attempts",
                             "outcome", "error_cause", "detail", "reason", "done_at", "rtt_ms"],
                            ([a.id, when(a.created_at), a.kind, a.cause, a.username, names.get(a.nas_id, a.nas_id),
                              a.state, a.attempts, a.outcome or "", a.error_cause or "", a.detail, a.reason,
                              when(a.done_at), a.rtt_ms if a.rtt_ms is not None else ""] for a in found))
        found, names = yield self.read(lambda conn: (paged(actions.page_actions, conn, who.org_id,
                                                                cursor=args.cursor, **f),
                                                     _names(conn, box, who.org_id)))
        return self.render(request, "admin/network/actions.html", who, actions=found.items, args=args,
                           next_cursor=found.next_cursor, when=when, names=names,
                           state_options=_options(actions.STATES),
                           kind_options=_options(actions.KINDS),
                           router_options=[("", "Any"), *((str(k), v) for k, v in names.items())])

    @app.route("/actions/<int:action_id>", methods=["GET"])
    @defer.inlineCallbacks
    def action(self, request: IRequest, action_id: int) -> Generator[Any, Any, bytes]:
        """One action: what was sent, how the router answered, when."""
        who = yield self.require(request, "network.read")
        page = yield self._action(request, who, action_id)
        return page

    @app.route("/actions/<int:action_id>/retry", methods=["POST"])
    @defer.inlineCallbacks
    def action_retry(self, request: IRequest, action_id: int) -> Generator[Any, Any, bytes]:
        """Send a failed action again (a fresh attempt budget); the sender is woken at once."""
        who = yield self.require(request, "network.write")
        self.check_csrf(request, who)
        before = yield self.read(actions.get, who.org_id, action_id)
        if before is None:
            raise NotFound("action", action_id)
        try:
            yield self.write(request, who, "network.write", actions.retry, who.org_id, action_id, self.now(),
                             target=f"action {action_id}", before=before)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._action(request, who, action_id, error=e.message)
            return page
        svc = self._service()
        if svc is not None:
            svc.sender.kick(rescan=True)
        page = yield self._action(request, who, action_id,
                                  notice="Queued to be sent again: the router is asked at once.")
        return page

    @defer.inlineCallbacks
    def _action(self, request: IRequest, who: Any, action_id: int, notice: str = "",
                error: str = "") -> Generator[Any, Any, bytes]:
        box = self.deps.box

        def read(conn: Connection) -> tuple[actions.Action, nas.Nas | None]:
            a = actions.get(conn, who.org_id, action_id)
            if a is None:
                raise NotFound("action", action_id)
            return a, nas.get(conn, box, who.org_id, a.nas_id)
        a, n = yield self.read(read)
        return self.render(request, "admin/network/action.html", who, action=a, nas=n, when=when, notice=notice,
                           error=error)

    # -- the message outbox ---------------------------------------------------------------------

    @app.route("/messages", methods=["GET"])
    @defer.inlineCallbacks
    def messages(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The messages sent or to send, newest first; ``?state=failed``."""
        who = yield self.require(request, "customers.read")
        args = ListArgs.from_request(request, filters=("state", "channel", "kind"))
        f = _message_filters(args)
        if args.csv:
            found = yield self.read(lambda conn: list(every(outbox.page, conn, who.org_id, **f)))
            return csv_body(request, "messages",
                            ["id", "created_at", "kind", "channel", "customer_id", "recipient", "state", "attempts",
                             "error", "sent_at", "done_at"],
                            ([m.id, when(m.created_at), m.kind, m.channel, m.customer_id or "", m.recipient, m.state,
                              m.attempts, m.error or "", when(m.sent_at), when(m.done_at)] for m in found))
        found = yield self.read(lambda conn: paged(outbox.page, conn, who.org_id, cursor=args.cursor, **f))
        return self.render(request, "admin/network/messages.html", who, messages=found.items, args=args,
                           next_cursor=found.next_cursor, when=when, state_options=_options(MESSAGE_STATES),
                           channel_options=_options(CHANNELS))

    @app.route("/messages/<int:message_id>", methods=["GET"])
    @defer.inlineCallbacks
    def message(self, request: IRequest, message_id: int) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "customers.read")
        page = yield self._message(request, who, message_id)
        return page

    @defer.inlineCallbacks
    def _message(self, request: IRequest, who: Any, message_id: int, notice: str = "",
                 error: str = "") -> Generator[Any, Any, bytes]:
        m = yield self.read(outbox.require, who.org_id, message_id)
        return self.render(request, "admin/network/message.html", who, message=m, when=when, notice=notice,
                           error=error)

    @app.route("/messages/<int:message_id>/<any(retry, cancel):what>", methods=["POST"])
    @defer.inlineCallbacks
    def message_action(self, request: IRequest, message_id: int, what: str) -> Generator[Any, Any, bytes]:
        """Send a failed or cancelled message again, or cancel a pending one."""
        who = yield self.require(request, "customers.write")
        self.check_csrf(request, who)
        before = yield self.read(outbox.require, who.org_id, message_id)
        fn = outbox.retry if what == "retry" else outbox.cancel
        try:
            yield self.write(request, who, "customers.write", fn, who.org_id, message_id, self.now(),
                             target=f"message {message_id}", before=before)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._message(request, who, message_id, error=e.message)
            return page
        if what == "retry":
            notify = getattr(self.deps.services.get("billing"), "notify", None)
            if notify is not None:
                notify.sender.kick()
        page = yield self._message(request, who, message_id, notice=(
            "Queued to be sent again." if what == "retry" else "Cancelled: it will not be sent."))
        return page


def _safe(n: nas.Nas) -> dict[str, Any]:
    """What an audit entry keeps of a NAS: never its secret nor its API password."""
    return {"id": n.id, "name": n.name, "address": n.address, "type": n.type, "coa_port": n.coa_port,
            "require_message_authenticator": n.require_message_authenticator, "api_host": n.api_host,
            "api_port": n.api_port, "api_username": n.api_username, "has_api_password": bool(n.api_password),
            "api_tls": n.api_tls}
