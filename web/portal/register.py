"""/{org}/portal/register: the registration form (self-provisioning with approval).

    GET  register                 the form (``?product=ID&zone=NAME`` from the coverage step are kept as
                                  hidden fields); 404 while the org's sign-up is closed
    POST register                 (CSRF-checked, rate-limited per address) validate; a bad field gets its
                                  message next to it and keeps what was typed (passwords aside); then a
                                  pending registration (the thank-you page), or with a product the
                                  customer and their order at once, signed in, 303 to signup/contract
    GET  register/more/TOKEN      the link an admin's "more information" request sends: the form
                                  prefilled with the admin's question above it
    POST register/more/TOKEN      the answer: the registration pending again (the link used up)

A honeypot field (``website``, never shown) that a bot fills in gets the thank-you page and nothing
is stored.  A duplicate e-mail or phone gets one message whichever it was, no more than the login
page tells a stranger.  The ID document (when the org asks for it) is checked by
billing.signup.uploads and kept under the data directory, never served.  Handlers write no SQL:
billing.signup does.
"""
from __future__ import annotations

import email
import email.policy
from collections.abc import Generator
from typing import Any, cast

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from aaad.errors import NotFound, ValidationError
from billing import catalogue, customer_accounts
from billing.signup import forms, registrations, uploads
from web.errors import set_header
from web.portal import accounts
from web.portal.section import PortalPages
from web.portal.visitor import Visitor

log = Logger()
HONEYPOT = "website"
_BUILTIN = ("name", "email", "phone", "address")


def _arg(request: IRequest, name: str, limit: int = 1000) -> str:
    values = request.args.get(name.encode(), [b""])
    return values[0].decode("utf-8", "replace")[:limit]


def upload_part(request: IRequest, name: str) -> tuple[str, bytes] | None:
    """The file sent in the multipart form field ``name``: (file name, content), or None when no file was
    chosen (Twisted's ``request.args`` keeps the content but not the file name)."""
    req = cast(Any, request)
    ctype = req.getHeader(b"content-type") or b""
    if not ctype.lower().startswith(b"multipart/form-data"):
        return None
    req.content.seek(0)
    body = req.content.read()
    req.content.seek(0)
    msg = email.message_from_bytes(b"MIME-Version: 1.0\r\nContent-Type: " + ctype + b"\r\n" + body,
                                   policy=email.policy.compat32)
    if not msg.is_multipart():
        return None
    for part in cast(list[Any], msg.get_payload()):
        if part.get_param("name", header="content-disposition") != name:
            continue
        filename = part.get_filename() or ""
        data = part.get_payload(decode=True) or b""
        if not filename and not data:
            return None
        return filename, data
    return None


class RegisterPages(PortalPages):
    """The registration pages of one org's portal (mounted by the Portal at ``register``)."""

    app = Klein()


    # -- helpers -------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _render(self, request: IRequest, v: Visitor, template: str, **context: Any) -> Generator[Any, Any, bytes]:
        b = yield self.portal.read(accounts.brand, v.org.id, v.org.name)
        set_header(request, "Cache-Control", "no-store")
        return self.pages.render(request, template, brand=b.name, logo=b.logo, portal=self._base(request),
                                 visitor=v, **context)

    @defer.inlineCallbacks
    def _spec(self, v: Visitor) -> Generator[Any, Any, forms.FormSpec]:
        spec: forms.FormSpec = yield self.portal.read(forms.spec, v.org.id)
        if not spec.settings.enabled:
            raise NotFound("page", "register")
        return spec

    @defer.inlineCallbacks
    def _product(self, v: Visitor, text: str) -> Generator[Any, Any, catalogue.Product | None]:
        """The product chosen in the coverage step (None: none chosen, or not one on the portal)."""
        if not text.isdigit() or len(text) > 12:
            return None
        p = yield self.portal.read(catalogue.get_product, v.org.id, int(text))
        return p if p is not None and p.active and p.on_portal else None

    def _form(self, request: IRequest, v: Visitor, spec: forms.FormSpec, *, values: dict[str, str],
              errors: dict[str, str], product: catalogue.Product | None = None, zone: str = "",
              question: str = "", action: str = "register", have_document: bool = False) -> defer.Deferred[bytes]:
        return self._render(request, v, "portal/register.html", spec=spec, values=values, errors=errors,
                            product=product, zone=zone, question=question, action=action, honeypot=HONEYPOT,
                            have_document=have_document,
                            checked=lambda text: (text or "").strip().lower() in forms.TRUE)

    @staticmethod
    def _values(request: IRequest, spec: forms.FormSpec) -> dict[str, str]:
        """What was typed, by input name (never the passwords)."""
        names = list(_BUILTIN) + [f.input_name for f in spec.fields]
        return {n: _arg(request, n, 1001) for n in names}

    def _client(self, request: IRequest) -> tuple[str, str]:
        req = cast(Any, request)
        ip = req.getClientAddress().host or "?"
        agent = (req.getHeader(b"user-agent") or b"").decode("utf-8", "replace")[:400]
        return ip, agent

    @defer.inlineCallbacks
    def _check(self, request: IRequest, v: Visitor, spec: forms.FormSpec,
               have_document: bool = False) -> Generator[Any, Any, Any]:
        """CSRF, the rate limit, the honeypot, then validation: (clean form or None, errors, values, upload,
        status); ``status`` 0 means a bot was caught (answer as if accepted)."""
        self.portal.check_csrf(request, v)
        values = self._values(request, spec)
        ip, _ = self._client(request)
        wait = yield self.deps.db.write(registrations.attempt, v.org.id, ip, self._now(),
                                        spec.settings.max_per_hour)
        if wait:
            log.info("portal registration throttled: org {org}, address {ip}", org=self.org_slug, ip=ip)
            minutes = max(1, -(-wait // 60))
            set_header(request, "Retry-After", str(wait))
            return None, {"form": f"Too many registrations from your network. Try again in {minutes} "
                                  f"minute{'s' if minutes > 1 else ''}."}, values, None, 429
        if _arg(request, HONEYPOT).strip():
            log.info("portal registration honeypot filled: org {org}, address {ip}", org=self.org_slug, ip=ip)
            return None, {}, values, None, 0
        upload = None
        errors: dict[str, str] = {}
        if spec.settings.document_field != "hidden":
            upload = upload_part(request, "document")
            if upload is not None:
                try:
                    uploads.check(upload[0], upload[1], spec.settings.document_max_kb * 1024)
                except ValidationError as e:
                    errors["document"] = e.message
        data = {**values, "password": _arg(request, "password", 201), "confirm": _arg(request, "confirm", 201)}
        clean, more = forms.validate(spec, data,
                                     has_document=have_document or upload is not None or "document" in errors)
        errors = {**more, **errors}
        return (clean if not errors else None), errors, values, upload, 400

    def _store(self, org_id: int, upload: tuple[str, bytes] | None, spec: forms.FormSpec) -> uploads.Document | None:
        if upload is None:
            return None
        return uploads.store(self.deps.conf.server.data_dir, org_id, upload[0], upload[1],
                             spec.settings.document_max_kb * 1024)

    def _forget(self, org_id: int, doc: uploads.Document | None) -> None:
        if doc is not None:
            uploads.remove(self.deps.conf.server.data_dir, org_id, doc.path)

    # -- the form ------------------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    @defer.inlineCallbacks
    def form(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The empty form (with the product and zone chosen in the coverage step, if any)."""
        v = yield self.portal.visitor(request)
        spec = yield self._spec(v)
        product = yield self._product(v, _arg(request, "product", 20))
        page = yield self._form(request, v, spec, values={}, errors={}, product=product,
                                zone=_arg(request, "zone", 100).strip())
        return page

    @app.route("/", methods=["POST"])
    @defer.inlineCallbacks
    def submit(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Register (see the module docstring)."""
        v = yield self.portal.visitor(request)
        spec = yield self._spec(v)
        product = yield self._product(v, _arg(request, "product", 20))
        zone = _arg(request, "zone", 100).strip()
        clean, errors, values, upload, status = yield self._check(request, v, spec)
        if status == 0:
            page = yield self._render(request, v, "portal/register_done.html", reg=None, caught=True)
            return page
        if clean is not None and spec.settings.mode == "hotspot":
            # The hotspot's way: the account at once, signed in, on to the dashboard (billing.customer_accounts).
            try:
                c = yield self.deps.db.write(customer_accounts.self_register, v.org.id, clean, self._now(),
                                             zone=zone or None)
            except ValidationError as e:
                errors = {e.field if e.field in values else "form": e.message}
            else:
                yield self.portal.sign_in(request, v, c.id)
                request.setResponseCode(303)
                set_header(request, "Location", self._base(request))
                return b""
        elif clean is not None:
            ip, agent = self._client(request)
            org_id = v.org.id

            def register(conn: Any) -> registrations.Registration:
                registrations.check_unique(conn, org_id, clean.email, clean.phone)
                doc = self._store(org_id, upload, spec)
                try:
                    if product is not None:
                        return registrations.register_with_order(
                            conn, self.deps.login_writer, org_id, clean, self._now(), product_id=product.id,
                            zone=zone or None, ip=ip, user_agent=agent, document=doc)[0]
                    return registrations.submit(conn, self.deps.login_writer, org_id, clean, self._now(), ip=ip,
                                                user_agent=agent, document=doc, zone=zone or None)
                except BaseException:
                    self._forget(org_id, doc)
                    raise
            try:
                reg = yield self.deps.db.write(register)
            except ValidationError as e:
                errors = {e.field if e.field in values or e.field == "document" else "form": e.message}
            else:
                if reg.customer_id is not None and reg.order_id is not None:
                    # Chosen a product: the customer exists; signed in, on to the contract (web.portal.signup).
                    yield self.portal.sign_in(request, v, reg.customer_id)
                    request.setResponseCode(303)
                    set_header(request, "Location", self._base(request) + "signup/contract")
                    return b""
                page = yield self._render(request, v, "portal/register_done.html", reg=reg, caught=False)
                return page
        request.setResponseCode(status)
        page = yield self._form(request, v, spec, values=values, errors=errors, product=product, zone=zone)
        return page

    # -- the "more information" link ----------------------------------------------------------

    @defer.inlineCallbacks
    def _by_token(self, request: IRequest, token: str) -> Generator[Any, Any, Any]:
        """The visitor, the form and the registration the link names (None once used or expired)."""
        v = yield self.portal.visitor(request)
        spec = yield self._spec(v)
        reg = yield self.portal.read(registrations.by_token, v.org.id, token, self._now())
        return v, spec, reg

    @defer.inlineCallbacks
    def _expired(self, request: IRequest, v: Visitor) -> Generator[Any, Any, bytes]:
        request.setResponseCode(410)
        page = yield self._render(request, v, "portal/register_expired.html")
        return page

    @app.route("/more/<token>", methods=["GET"])
    @defer.inlineCallbacks
    def more(self, request: IRequest, token: str) -> Generator[Any, Any, bytes]:
        """The form prefilled with the registration, the admin's question above it."""
        v, spec, reg = yield self._by_token(request, token)
        if reg is None:
            page = yield self._expired(request, v)
            return page
        values = {"name": reg.name, "email": reg.email or "", "phone": reg.phone or "", "address": reg.address or ""}
        for f in spec.fields:
            val = reg.fields.get(f.key)
            values[f.input_name] = ("on" if val else "") if f.kind == "checkbox" else ("" if val is None else str(val))
        page = yield self._form(request, v, spec, values=values, errors={}, question=reg.question,
                                action=f"register/more/{token}", have_document=reg.has_document)
        return page

    @app.route("/more/<token>", methods=["POST"])
    @defer.inlineCallbacks
    def answer(self, request: IRequest, token: str) -> Generator[Any, Any, bytes]:
        """The applicant's answer: the registration pending again."""
        v, spec, reg = yield self._by_token(request, token)
        if reg is None:
            page = yield self._expired(request, v)
            return page
        clean, errors, values, upload, status = yield self._check(request, v, spec, have_document=reg.has_document)
        if status == 0:
            page = yield self._render(request, v, "portal/register_done.html", reg=None, caught=True)
            return page
        if clean is not None:
            ip, agent = self._client(request)
            org_id = v.org.id

            def resubmit(conn: Any) -> registrations.Registration:
                registrations.check_unique(conn, org_id, clean.email, clean.phone, exclude=reg.id)
                doc = self._store(org_id, upload, spec)
                try:
                    done, replaced = registrations.resubmit(conn, org_id, token, clean, self._now(), document=doc,
                                                            ip=ip, user_agent=agent)
                except BaseException:
                    self._forget(org_id, doc)
                    raise
                if replaced:
                    uploads.remove(self.deps.conf.server.data_dir, org_id, replaced)
                return done
            try:
                done = yield self.deps.db.write(resubmit)
            except ValidationError as e:
                if e.field == "token":
                    page = yield self._expired(request, v)
                    return page
                errors = {e.field if e.field in values or e.field == "document" else "form": e.message}
            else:
                page = yield self._render(request, v, "portal/register_done.html", reg=done, caught=False)
                return page
        request.setResponseCode(status)
        page = yield self._form(request, v, spec, values=values, errors=errors, question=reg.question,
                                action=f"register/more/{token}", have_document=reg.has_document)
        return page

