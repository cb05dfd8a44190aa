"""/registrations, /signup-settings and /form-fields in process (SQLite): listing with filters, approval
(one and many), rejection, requests for more information (the link reaches the outbox), the ID
document for admins, settings and fields; 404 for the other org's ids, 403 for a read-only token."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from billing import catalogue
from billing.notify import settings as ns
from billing.notify.schema import messages
from billing.signup import forms, registrations, uploads
from tests.web.api.conftest import NOW, ApiClient, World, make_api

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"


def tx(world: World, fn: Any, *a: Any, **kw: Any) -> Any:
    with world.db.engine.begin() as c:
        return fn(c, *a, **kw)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def api(world: World, clock: task.Clock, data_dir: Path) -> ApiClient:
    """The demo admin's client, uploads under a fresh data directory."""
    resource, deps = make_api(world, clock)
    deps.conf = deps.conf.replace("server", data_dir=str(data_dir))
    return ApiClient(resource, world)


def product(world: World, org_id: int) -> int:
    with world.db.engine.connect() as c:
        return next(p.id for p in catalogue.list_products(c, org_id) if p.type == "internet" and p.active
                    and not p.zones)


def applicant(world: World, org_id: int, **kw: Any) -> registrations.Registration:
    """A pending registration of ``org_id`` with a fresh e-mail address."""
    tx(world, forms.update_settings, org_id, NOW, enabled=True, approval="required")
    form = forms.Clean("Esi Adjei", f"esi-{uuid.uuid4().hex[:8]}@example.com", None, "2 High St", "long enough",
                       {"id_number": "GHA-9"})
    with world.db.engine.begin() as c:
        from aaad.view.write import LoginWriter
        return registrations.submit(c, LoginWriter(world.box), org_id, form, NOW, ip="10.1.1.1", **kw)


def test_list_and_get_are_scoped_to_the_org(api: ApiClient, world: World) -> None:
    """The list holds the org's registrations (newest first), filters by status and text; the other org's
    id is a 404 for get and every action."""
    mine, theirs = applicant(world, world.demo), applicant(world, world.other)
    r = api.get("/registrations")
    assert r.code == 200
    ids = [x["id"] for x in r.json()["items"]]
    assert mine.id in ids and theirs.id not in ids and ids == sorted(ids, reverse=True)
    item = api.get(f"/registrations/{mine.id}").json()
    assert item["status"] == "pending" and item["fields"] == {"id_number": "GHA-9"} and item["ip"] == "10.1.1.1"
    assert "password" not in json.dumps(item)
    assert mine.id in [x["id"] for x in api.get("/registrations?status=pending&q=esi").json()["items"]]
    assert api.get("/registrations?status=rejected&q=" + (mine.email or "")).json()["items"] == []
    assert api.get("/registrations?status=nope").code == 422
    assert api.get(f"/registrations/{theirs.id}").code == 404
    for suffix, body in (("approve", {}), ("reject", {"reason": "x"}), ("request-info", {"question": "x"})):
        assert api.post(f"/registrations/{theirs.id}/{suffix}", body).code == 404
    assert api.get(f"/registrations/{theirs.id}/document").code == 404
    assert api.get("/registrations/999999").code == 404


def test_approve_creates_the_customer_and_service(api: ApiClient, world: World) -> None:
    """Approve with a product and zone: approved, with customer and service; the customer is active and
    the service active from the start given; a second approval is 422 status; read-only is 403."""
    reg = applicant(world, world.demo)
    pid = product(world, world.demo)
    assert api.as_("demo_ro").post(f"/registrations/{reg.id}/approve", {"product_id": pid}).code == 403
    r = api.post(f"/registrations/{reg.id}/approve", {"product_id": pid, "zone": "Central", "start": "2026-11-30"})
    assert r.code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["customer_id"] and body["service_id"] and body["zone"] == "Central"
    cust = api.get(f"/customers/{body['customer_id']}").json()
    assert cust["status"] == "active" and cust["has_password"] and cust["email"] == reg.email
    svc = api.get(f"/services/{body['service_id']}").json()
    assert svc["state"] == "active" and svc["start_date"] == "2026-11-30"
    again = api.post(f"/registrations/{reg.id}/approve", {"product_id": pid})
    assert again.code == 422 and again.json()["error"]["field"] == "status"


def test_approve_without_a_product_names_the_field(api: ApiClient, world: World) -> None:
    """No product and no default product in the settings: 422 naming product_id; an unknown product too."""
    reg = applicant(world, world.demo)
    tx(world, forms.update_settings, world.demo, NOW, default_product_id=None)
    r = api.post(f"/registrations/{reg.id}/approve", {})
    assert r.code == 422 and r.json()["error"]["field"] == "product_id"
    assert api.post(f"/registrations/{reg.id}/approve", {"product_id": 0}).code == 422
    theirs = product(world, world.other)
    r = api.post(f"/registrations/{reg.id}/approve", {"product_id": theirs})
    assert r.code == 422 and r.json()["error"]["field"] == "product_id"


def test_bulk_approval_reports_each(api: ApiClient, world: World) -> None:
    """Many at once: the good ones approved, the other org's and a decided one reported, not approved."""
    a, b, decided = applicant(world, world.demo), applicant(world, world.demo), applicant(world, world.demo)
    theirs = applicant(world, world.other)
    assert api.post(f"/registrations/{decided.id}/reject", {"reason": "spam"}).code == 200
    r = api.post("/registrations/bulk-approve", {"ids": [a.id, b.id, decided.id, theirs.id],
                                                 "product_id": product(world, world.demo)})
    assert r.code == 200, r.text
    body = r.json()
    assert (body["approved"], body["failed"]) == (2, 2)
    assert [(x["registration_id"], x["ok"]) for x in body["results"]] == [
        (a.id, True), (b.id, True), (decided.id, False), (theirs.id, False)]
    assert api.get(f"/registrations/{theirs.id}").code == 404
    assert api.as_("other").get(f"/registrations/{theirs.id}").json()["status"] == "pending"
    assert api.post("/registrations/bulk-approve", {"ids": []}).code == 422


def test_reject_needs_a_reason(api: ApiClient, world: World) -> None:
    """Rejecting: the reason is required (422 naming it), then kept and shown."""
    reg = applicant(world, world.demo)
    r = api.post(f"/registrations/{reg.id}/reject", {})
    assert r.code == 422 and r.json()["error"]["field"] == "reason"
    r = api.post(f"/registrations/{reg.id}/reject", {"reason": "We do not cover your street yet."})
    assert r.code == 200 and r.json()["status"] == "rejected" and r.json()["reason"].startswith("We do not")


def test_request_info_sends_a_link_to_the_prefilled_form(api: ApiClient, world: World, data_dir: Path) -> None:
    """Asking for more information: info_requested with the question; the applicant's message carries the
    link (encrypted until sent) whose token opens the registration."""
    tx(world, ns.set_channel, world.box, world.demo, "email", NOW, provider="file",
       settings={"directory": str(data_dir / "outbox"), "from_address": "isp@example.com"})
    reg = applicant(world, world.demo)
    r = api.post(f"/registrations/{reg.id}/request-info", {"question": "Your house number, please?"})
    assert r.code == 200 and r.json()["status"] == "info_requested"
    assert r.json()["question"] == "Your house number, please?"
    with world.db.engine.connect() as c:
        row = c.execute(sa.select(messages).where(messages.c.org_id == world.demo,
                                                  messages.c.kind == "registration.info_needed",
                                                  messages.c.recipient == reg.email)).one()
    link = json.loads(world.box.decrypt(row.secrets_enc))["link"]
    assert "/demo/portal/register/more/" in link and "Your house number" in row.vars
    token = link.rsplit("/", 1)[1]
    with world.db.engine.connect() as c:
        found = registrations.by_token(c, world.demo, token, NOW)
        assert found is not None and found.id == reg.id
        assert registrations.by_token(c, world.other, token, NOW) is None
    assert api.post(f"/registrations/{reg.id}/request-info", {"question": ""}).code == 422


def test_document_is_served_to_admins_only_through_the_api(api: ApiClient, world: World, data_dir: Path) -> None:
    """The uploaded document comes back byte for byte with its type; a registration without one is 404;
    a read-only token may read it."""
    doc = uploads.store(data_dir, world.demo, "scan.pdf", PDF, 10_000)
    reg = applicant(world, world.demo, document=doc)
    r = api.as_("demo_ro").get(f"/registrations/{reg.id}/document")
    assert r.code == 200 and r.body == PDF and r.required_header("Content-Type") == "application/pdf"
    assert "scan.pdf" in r.required_header("Content-Disposition")
    assert api.get(f"/registrations/{applicant(world, world.demo).id}/document").code == 404


def test_signup_settings(api: ApiClient, world: World) -> None:
    """Read and change the sign-up settings; both login fields hidden is 422; read-only cannot change them."""
    r = api.get("/signup-settings")
    assert r.code == 200 and r.json()["register_url"].endswith("/demo/portal/register")
    pid = product(world, world.demo)
    r = api.patch("/signup-settings", {"enabled": True, "approval": "automatic", "default_product_id": pid,
                                       "document_field": "required"})
    assert r.code == 200 and (r.json()["approval"], r.json()["default_product_id"]) == ("automatic", pid)
    r = api.patch("/signup-settings", {"email_field": "hidden", "phone_field": "hidden"})
    assert r.code == 422 and r.json()["error"]["field"] == "email_field"
    assert api.patch("/signup-settings", {"approval": "sometimes"}).code == 422
    assert api.as_("demo_ro").patch("/signup-settings", {"enabled": False}).code == 403
    assert api.patch("/signup-settings", {"approval": "required", "default_product_id": None,
                                          "document_field": "hidden"}).json()["default_product_id"] is None
    assert api.as_("other").get("/signup-settings").json()["register_url"].endswith("/other/portal/register")


def test_form_fields_crud_and_isolation(api: ApiClient, world: World) -> None:
    """Add, list in order, change, remove a custom field; a duplicate key and a choice field without choices
    are 422 naming the field; the other org's field is a 404."""
    a = api.post("/form-fields", {"key": "id_number", "label": "ID number", "kind": "text", "required": True})
    assert a.code == 201, a.text
    b = api.post("/form-fields", {"key": "heard", "label": "Heard of us", "kind": "choice", "choices": ["Radio"],
                                  "position": 0})
    assert b.code == 201
    keys = [f["key"] for f in api.get("/form-fields").json()["items"]]
    assert keys.index("heard") < keys.index("id_number")
    dup = api.post("/form-fields", {"key": "id_number", "label": "Again", "kind": "text"})
    assert dup.code == 422 and dup.json()["error"]["field"] == "key"
    r = api.post("/form-fields", {"key": "plan", "label": "Plan", "kind": "choice"})
    assert r.code == 422 and r.json()["error"]["field"] == "choices"
    r = api.patch(f"/form-fields/{a.json()['id']}", {"label": "National ID", "required": False})
    assert r.code == 200 and (r.json()["label"], r.json()["required"]) == ("National ID", False)
    theirs = api.as_("other").post("/form-fields", {"key": "x", "label": "X", "kind": "checkbox"}).json()["id"]
    assert api.get(f"/form-fields/{theirs}").code == 404
    assert api.patch(f"/form-fields/{theirs}", {"label": "mine"}).code == 404
    assert api.delete(f"/form-fields/{theirs}").code == 404
    assert api.delete(f"/form-fields/{a.json()['id']}").json() == {"id": a.json()["id"], "deleted": True}
    assert api.get(f"/form-fields/{a.json()['id']}").code == 404
    for fid in (b.json()["id"],):
        api.delete(f"/form-fields/{fid}")
    api.as_("other").delete(f"/form-fields/{theirs}")
