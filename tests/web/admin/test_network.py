"""The console's network pages in process: routers (list with status and the routers-down filter, a
router's page with its open sessions and Disconnect, add and edit with write-only secrets, check now and
provisioning with a dry-run preview against the protocol-level RouterOS fake), enforcement's action queue
and the notify outbox (lists, CSV, detail, retry and cancel); roles refused, CSRF on every form, org
isolation on every route, secrets on no page."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from aaad import nas
from aaad.component import Core
from billing.notify.schema import messages as msg_t
from enforcement import actions, routeros, status_store
from enforcement.routeros import RouterAccess, RouterPool, RouterStatus, Timeouts
from enforcement.service import RouterTasks
from tests.fake_routeros import FakeRouterOS
from tests.helpers import result_of
from tests.web.admin.conftest import Admin, Console, seat_people
from tests.web.api.conftest import NOW, World, seed_world
from tests.web.api.traffic import Traffic, seed_traffic
from web.api.app import Deps
from web.schema import audit as audit_t

FAST = Timeouts(connect=2.0, read=2.0, call=10.0)
API_PASSWORD = "api-pass-word-77"
NAS_SECRET = "s3cret"                 # seed_traffic's core-1
RADIUS = "radius_address=192.0.2.10"


@pytest.fixture(scope="module")
def world(tmp_path_factory: Any) -> Iterator[World]:
    """This module's own seeded world (routers, sessions, actions and messages change here)."""
    w = seed_world(f"sqlite:///{tmp_path_factory.mktemp('admin-network') / 'n.db'}")
    yield w
    w.db.engine.dispose()


@pytest.fixture(scope="module")
def people(world: World) -> Console:
    return seat_people(world)


@dataclass(frozen=True)
class Net:
    traffic: Traffic
    down: int                   # a demo NAS whose last check failed
    failed_action: int          # demo's
    other_action: int
    failed_message: int         # demo's, an invoice e-mail that failed
    secret_message: int         # demo's, a failed reset link (carried a secret: no retry)
    pending_message: int
    other_message: int


def _message(org_id: int, kind: str, state: str, dedupe: str, error: str | None = None) -> dict[str, Any]:
    return {"org_id": org_id, "kind": kind, "channel": "email", "customer_id": None, "recipient": "ama@example.com",
            "dedupe": dedupe, "vars": json.dumps({"invoice": {"number": "INV-7"}}), "state": state,
            "attempts": 3 if state == "failed" else 0, "not_before": NOW, "error": error,
            "rendered": "Subject: Your invoice INV-7\n\nHello", "created_at": NOW, "updated_at": NOW,
            "done_at": NOW if state == "failed" else None}


@pytest.fixture(scope="module")
def net(world: World, people: Console) -> Net:
    t = seed_traffic(world)
    down = result_of(world.db.write(nas.add, world.box, world.demo, "tower-9", "127.0.0.9", NAS_SECRET, NOW,
                                    api_username="admin", api_password=API_PASSWORD)).id
    with world.db.engine.begin() as c:
        status_store.record(c, world.demo, down, RouterStatus(False, error="unreachable: no route",
                                                              checked_at=NOW - timedelta(hours=3)))
        a = actions.disconnect_session(c, world.demo, t.open_session, NOW, reason="test")
        actions.record(c, [actions.Outcome(a.id, "failed", "nak", 3, "NAK from the NAS", error_cause=503)], NOW)
        o = actions.disconnect_session(c, world.other, t.other_session, NOW, reason="theirs")
        ids = [int(c.execute(msg_t.insert().values(**m)).inserted_primary_key[0]) for m in (
            _message(world.demo, "invoice.issued", "failed", "t:1", "SMTP 550 mailbox unavailable"),
            _message(world.demo, "password.reset", "failed", "t:2", "SMTP timeout"),
            _message(world.demo, "invoice.issued", "pending", "t:3"),
            _message(world.other, "invoice.issued", "failed", "t:4", "SMTP 550"))]
    return Net(t, down, a.id, o.id, *ids)


class SyncPool:
    """RouterPool's calls, run at once with the real librouteros functions (no threads)."""

    def status(self, access: RouterAccess) -> defer.Deferred[RouterStatus]:
        return defer.succeed(routeros.check_status(access, FAST, NOW))

    def apply(self, access: RouterAccess, steps: Any, dry_run: bool = False) -> defer.Deferred[Any]:
        return defer.maybeDeferred(routeros.apply, access, steps, FAST, dry_run)


class Sender:
    def __init__(self) -> None:
        self.kicks = 0
        self.rescans = 0

    def kick(self, rescan: bool = False) -> None:
        self.kicks += 1
        self.rescans += rescan


@pytest.fixture
def daemon(world: World, site: tuple[Any, Deps]) -> Any:
    """The site's daemon runs an enforcement service: real RouterTasks over a pool calling at once."""
    pool = SyncPool()
    svc = SimpleNamespace(pool=pool, routers=RouterTasks(cast(Core, SimpleNamespace(db=world.db)),
                                                         cast(RouterPool, pool), 2.0), sender=Sender())
    site[1].services["enforcement"] = svc
    return svc


@pytest.fixture
def fake(world: World, net: Net) -> Iterator[FakeRouterOS]:
    """A RouterOS fake on loopback, and demo's core-1 given API credentials for it (taken off after)."""
    with FakeRouterOS(password=API_PASSWORD, identity="edge-7") as f:
        result_of(world.db.write(nas.update_by_id, world.box, world.demo, net.traffic.demo_nas, NOW,
                                 api_host="127.0.0.1", api_port=f.port, api_username="admin",
                                 api_password=API_PASSWORD))
        yield f
        result_of(world.db.write(nas.update_by_id, world.box, world.demo, net.traffic.demo_nas, NOW,
                                 api_host=None, api_port=None, api_username=None, api_password=None))


def token(b: Admin) -> str:
    return b.form_csrf("/admin/")


def no_secrets(text: str) -> None:
    assert NAS_SECRET not in text and API_PASSWORD not in text


# -- routers ----------------------------------------------------------------------------------------


def test_routers_list_with_status_and_the_down_filter(console_as: Any, net: Net) -> None:
    """The list: each router with its status; ?reachable=false (the dashboard's "routers down") keeps the
    one whose check failed; the CSV; the dashboard links the figure; no secret anywhere."""
    b: Admin = console_as("owner")
    r = b.get("/admin/routers")
    assert r.code == 200 and "core-1" in r.text and "tower-9" in r.text and "Down" in r.text
    no_secrets(r.text)
    r = b.get("/admin/routers?reachable=false")
    assert "tower-9" in r.text and "core-1" not in r.text
    r = b.get("/admin/routers?format=csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.code == 200 and {x["name"] for x in rows} == {"core-1", "tower-9"}
    assert next(x for x in rows if x["name"] == "tower-9")["reachable"] == "no"
    no_secrets(r.text)
    dash = b.get("/admin/")
    assert 'href="../admin/routers?reachable=false"' in dash.text
    assert 'href="../admin/actions?state=failed"' in dash.text and 'href="../admin/messages?state=failed"' in dash.text
    r = b.get("/admin/routers?q=zzz")
    assert "No router matches" in r.text


def test_router_page_sessions_and_disconnect(console_as: Any, net: Net, daemon: Any, world: World) -> None:
    """A router's page shows its settings without secrets and its open sessions; Disconnect queues a
    Disconnect-Request for that session (kicking the sender) and is audited."""
    b: Admin = console_as("support")
    nid = net.traffic.demo_nas
    r = b.get(f"/admin/routers/{nid}")
    assert r.code == 200 and "alice" in r.text and "10.0.0.5" in r.text and "Disconnect" in r.text
    no_secrets(r.text)
    r = b.post(f"/admin/routers/{nid}/sessions/{net.traffic.open_session}/disconnect", {"csrf": token(b)})
    assert r.code == 200 and "Disconnect of alice queued" in r.text and daemon.sender.kicks == 1
    with world.db.engine.connect() as c:
        got = actions.page_actions(c, world.demo, state="pending", nas_id=nid).items
        assert got and got[0].reason == "console disconnect"
        assert c.execute(sa.select(audit_t).where(audit_t.c.target == f"session {net.traffic.open_session}")
                         ).first() is not None
    r = b.post(f"/admin/routers/{nid}/sessions/{net.traffic.closed_session}/disconnect", {"csrf": token(b)})
    assert r.code == 404


def test_add_a_router_secrets_are_write_only(console_as: Any, world: World) -> None:
    """Add a NAS: its secret and API password are stored, never shown back (not on its page, not on its
    form, not on the form sent back with an error); an empty secret on edit keeps the stored one."""
    b: Admin = console_as("admin")
    assert b.get("/admin/routers/new").code == 200
    form = {"csrf": token(b), "name": "", "address": "not an address", "secret": "top-secret-1",
            "type": "mikrotik", "coa_port": "3799", "api_username": "api", "api_password": "api-secret-2"}
    r = b.post("/admin/routers", form)
    assert r.code == 400 and 'id="name-error"' in r.text and "top-secret-1" not in r.text
    assert "api-secret-2" not in r.text and 'value="not an address"' in r.text
    r = b.post("/admin/routers", {**form, "name": "west-2", "address": "not an address"})
    assert r.code == 400 and 'id="address-error"' in r.text and 'value="west-2"' in r.text
    r = b.post("/admin/routers", {**form, "name": "west-2", "address": "198.51.100.20", "coa_port": "99999"})
    assert r.code == 400 and 'id="coa_port-error"' in r.text
    r = b.post("/admin/routers", {**form, "name": "west-2", "address": "198.51.100.20", "secret": ""})
    assert r.code == 400 and 'id="secret-error"' in r.text
    r = b.post("/admin/routers", {**form, "name": "west-2", "address": "198.51.100.20"})
    assert r.code == 303
    with world.db.engine.connect() as c:
        n = next(x for x in nas.list_all(c, world.box, world.demo) if x.name == "west-2")
    assert (n.secret, n.api_password) == (b"top-secret-1", b"api-secret-2")
    for path in (f"/admin/routers/{n.id}", f"/admin/routers/{n.id}/edit", "/admin/routers", "/admin/audit"):
        text = b.get(path).text
        assert "top-secret-1" not in text and "api-secret-2" not in text, path
    r = b.post(f"/admin/routers/{n.id}/edit", {"csrf": token(b), "name": "west-2", "address": "198.51.100.21",
                                               "secret": "", "type": "mikrotik", "coa_port": "3799",
                                               "api_username": "api", "api_password": ""})
    assert r.code == 303
    with world.db.engine.connect() as c:
        n2 = nas.get(c, world.box, world.demo, n.id)
        assert n2 is not None and (n2.address, n2.secret, n2.api_password) == ("198.51.100.21", b"top-secret-1",
                                                                               b"api-secret-2")
        audit = " ".join(str(r.before) + str(r.after) for r in c.execute(
            sa.select(audit_t).where(audit_t.c.target.in_([f"nas {n.id}", "nas west-2"]))))
    assert audit and "top-secret-1" not in audit and "api-secret-2" not in audit
    r = b.post(f"/admin/routers/{n.id}/edit", {"csrf": token(b), "name": "core-1", "address": "198.51.100.21",
                                               "type": "mikrotik"})
    assert r.code == 400 and 'id="name-error"' in r.text and "already exists" in r.text


def test_check_now_against_the_fake_router(console_as: Any, net: Net, daemon: Any, fake: FakeRouterOS,
                                           world: World) -> None:
    """Check now: the router is read through its API (version, board, identity) and the status recorded."""
    b: Admin = console_as("owner")
    nid = net.traffic.demo_nas
    r = b.post(f"/admin/routers/{nid}/check", {"csrf": token(b)})
    assert r.code == 200 and "the router answered" in r.text and "7.16.2" in r.text and "edge-7" in r.text
    with world.db.engine.connect() as c:
        st = status_store.last(c, world.demo, nid)
    assert st is not None and st.reachable and st.identity == "edge-7"
    assert "edge-7" in b.get("/admin/routers").text
    no_secrets(r.text)


def test_check_now_without_api_or_service(console_as: Any, net: Net, site: Any) -> None:
    """Without API credentials, or without the daemon's service, the page says so."""
    b: Admin = console_as("owner")
    r = b.post(f"/admin/routers/{net.traffic.demo_nas}/check", {"csrf": token(b)})
    assert r.code == 200 and "no RouterOS API credentials" in r.text
    r = b.post(f"/admin/routers/{net.down}/check", {"csrf": token(b)})
    assert r.code == 200 and "not running here" in r.text


def test_provision_preview_then_apply(console_as: Any, net: Net, daemon: Any, fake: FakeRouterOS,
                                      world: World) -> None:
    """The dry run reads the router and lists the changes, sending none (secrets masked); the confirm
    button applies them and the write is audited; a second preview has nothing to change."""
    b: Admin = console_as("owner")
    nid = net.traffic.demo_nas
    r = b.get(f"/admin/routers/{nid}/provision?{RADIUS}")
    assert r.code == 200 and "dry run: nothing sent" in r.text and "/radius add" in r.text and "********" in r.text
    assert "Apply these changes" in r.text and fake.writes() == []
    no_secrets(r.text)
    r = b.post(f"/admin/routers/{nid}/provision", {"csrf": token(b), "radius_address": "192.0.2.10"})
    assert r.code == 200 and "change(s) made" in r.text
    assert fake.table("/radius")[0]["address"] == "192.0.2.10" and fake.table("/radius")[0]["secret"] == NAS_SECRET
    no_secrets(r.text)
    with world.db.engine.connect() as c:
        assert c.execute(sa.select(audit_t).where(audit_t.c.target == f"nas {nid}",
                                                  audit_t.c.route.like("%provision"))).first() is not None
    r = b.get(f"/admin/routers/{nid}/provision?{RADIUS}")
    assert "Nothing to change" in r.text and "Apply these changes" not in r.text


def test_provision_preview_without_api_credentials_is_the_full_script(console_as: Any, net: Net,
                                                                      world: World) -> None:
    """No API credentials: the preview is the full configuration to paste (no service needed), no apply
    button; applying says to add credentials; a bad RADIUS address is named next to its field."""
    b: Admin = console_as("support")
    nid = net.traffic.demo_nas
    r = b.get(f"/admin/routers/{nid}/provision?{RADIUS}")
    assert r.code == 200 and "The full configuration" in r.text and "/radius add" in r.text
    assert "Apply these changes" not in r.text and "Paste these commands" in r.text
    no_secrets(r.text)
    r = b.get(f"/admin/routers/{nid}/provision?radius_address=nowhere")
    assert r.code == 400 and 'id="radius_address-error"' in r.text and 'value="nowhere"' in r.text
    owner: Admin = console_as("owner")
    r = owner.post(f"/admin/routers/{nid}/provision", {"csrf": token(owner), "radius_address": "192.0.2.10"})
    assert r.code == 409 and "no RouterOS API credentials" in r.text


# -- actions and messages ---------------------------------------------------------------------------


def test_actions_list_filter_csv_and_detail(console_as: Any, net: Net) -> None:
    """The action queue: ?state=failed (the dashboard's figure) shows the failed Disconnect; its page has
    the attempts, outcome, Error-Cause and timings; the CSV has it too."""
    b: Admin = console_as("admin")
    r = b.get("/admin/actions?state=failed")
    assert r.code == 200 and f'href="../admin/actions/{net.failed_action}"' in r.text and "503" in r.text
    assert "No action matches" in b.get("/admin/actions?state=failed&kind=coa").text
    r = b.get(f"/admin/actions/{net.failed_action}")
    assert r.code == 200 and "NAK from the NAS" in r.text and "503" in r.text and "Attempts" in r.text
    assert 'href="../../admin/routers/' in r.text
    rows = list(csv.DictReader(io.StringIO(b.get("/admin/actions?format=csv&state=failed").text)))
    assert [int(x["id"]) for x in rows] == [net.failed_action] and rows[0]["error_cause"] == "503"
    r = b.get(f"/admin/actions?nas_id={net.traffic.demo_nas}")
    assert r.code == 200 and str(net.failed_action) in r.text


def test_messages_list_detail_retry_and_cancel(console_as: Any, net: Net, world: World) -> None:
    """The outbox: ?state=failed lists the failed ones; a message's page shows its error and text; retry
    sends a failed one again; one that carried a secret cannot be retried (the page says why); a pending
    one is cancelled."""
    b: Admin = console_as("admin")
    r = b.get("/admin/messages?state=failed")
    assert r.code == 200 and f'messages/{net.failed_message}"' in r.text and f'messages/{net.other_message}"' \
        not in r.text
    rows = list(csv.DictReader(io.StringIO(b.get("/admin/messages?format=csv&state=failed").text)))
    assert {int(x["id"]) for x in rows} == {net.failed_message, net.secret_message}
    r = b.get(f"/admin/messages/{net.failed_message}")
    assert r.code == 200 and "SMTP 550 mailbox unavailable" in r.text and "Your invoice INV-7" in r.text
    assert "Send it again" in r.text
    r = b.post(f"/admin/messages/{net.failed_message}/retry", {"csrf": token(b)})
    assert r.code == 200 and "Queued to be sent again" in r.text
    r = b.post(f"/admin/messages/{net.secret_message}/retry", {"csrf": token(b)})
    assert r.code == 400 and "no longer kept" in r.text
    r = b.post(f"/admin/messages/{net.pending_message}/cancel", {"csrf": token(b)})
    assert r.code == 200 and "Cancelled" in r.text
    with world.db.engine.connect() as c:
        states = dict(c.execute(sa.select(msg_t.c.id, msg_t.c.state).where(msg_t.c.org_id == world.demo)).all())
    assert states[net.failed_message] == "pending" and states[net.pending_message] == "cancelled"
    assert "No message matches" in b.get("/admin/messages?channel=whatsapp").text


# -- roles, CSRF, orgs ------------------------------------------------------------------------------


def posts(net: Net) -> list[tuple[str, dict[str, str]]]:
    nid = net.traffic.demo_nas
    return [
        ("/admin/routers", {"name": "r", "address": "203.0.113.5", "secret": "x"}),
        (f"/admin/routers/{nid}/edit", {"name": "core-1", "address": "127.0.0.2"}),
        (f"/admin/routers/{nid}/check", {}),
        (f"/admin/routers/{nid}/provision", {"radius_address": "192.0.2.10"}),
        (f"/admin/routers/{nid}/sessions/{net.traffic.open_session}/disconnect", {}),
        (f"/admin/messages/{net.failed_message}/retry", {}),
        (f"/admin/messages/{net.pending_message}/cancel", {}),
        (f"/admin/actions/{net.failed_action}/retry", {}),
    ]


def test_roles_are_refused_with_the_403_page(console_as: Any, net: Net) -> None:
    """A cashier may not see routers or actions (network.read) nor disconnect; support may read the network
    and disconnect but not add, edit or provision routers, nor retry messages (customers.write)."""
    nid = net.traffic.demo_nas
    cashier: Admin = console_as("cashier")
    for path in ("/admin/routers", f"/admin/routers/{nid}", "/admin/routers/new", "/admin/actions",
                 f"/admin/actions/{net.failed_action}", f"/admin/routers/{nid}/provision?{RADIUS}"):
        r = cashier.get(path)
        assert r.code == 403, path
    assert 'href="../admin/routers"' not in cashier.get("/admin/").text
    assert cashier.get("/admin/messages").code == 200          # messages are about customers: customers.read
    for path, data in posts(net):
        assert cashier.post(path, {"csrf": token(cashier), **data}).code == 403, path
    support: Admin = console_as("support")
    for path in ("/admin/routers/new", f"/admin/routers/{nid}/edit"):
        r = support.get(path)
        assert r.code == 403 and "network.write" in r.text, path
    for path, data in [p for p in posts(net) if "/check" not in p[0] and "/disconnect" not in p[0]]:
        assert support.post(path, {"csrf": token(support), **data}).code == 403, path


def test_every_form_needs_the_csrf_token(console_as: Any, net: Net) -> None:
    b: Admin = console_as("owner")
    for path, data in posts(net):
        assert b.post(path, data).code == 403, path
        assert b.post(path, {"csrf": "forged", **data}).code == 403, path


def test_another_orgs_owner_gets_404_for_every_demo_id(console_as: Any, net: Net) -> None:
    """Org other's owner: every demo router, session, action and message id is not found on every route;
    its own lists do not show demo's rows."""
    b: Admin = console_as("other")
    nid = net.traffic.demo_nas
    for path in (f"/admin/routers/{nid}", f"/admin/routers/{nid}/edit", f"/admin/routers/{nid}/provision?{RADIUS}",
                 f"/admin/routers/{net.down}", f"/admin/actions/{net.failed_action}",
                 f"/admin/messages/{net.failed_message}", f"/admin/messages/{net.secret_message}"):
        assert b.get(path).code == 404, path
    for path, data in posts(net)[1:]:
        assert b.post(path, {"csrf": token(b), **data}).code == 404, path
    assert "core-1" not in b.get("/admin/routers").text
    assert f'actions/{net.failed_action}"' not in b.get("/admin/actions").text
    assert f'actions/{net.other_action}"' in b.get("/admin/actions").text
    assert f'messages/{net.failed_message}"' not in b.get("/admin/messages").text
    mine: Admin = console_as("owner")
    assert mine.get(f"/admin/actions/{net.other_action}").code == 404
    assert mine.get(f"/admin/messages/{net.other_message}").code == 404


def test_retry_a_failed_action(console_as: Any, net: Net, daemon: Any, world: World) -> None:
    """A failed action's page offers Retry (an admin); it goes back to pending with attempts 0, the sender
    is woken to look at the whole queue, the audit entry names the admin; retrying it again (pending) is
    refused on the page (400) with the reason; support sees no Retry button."""
    with world.db.engine.begin() as c:
        a = actions.disconnect_session(c, world.demo, net.traffic.open_session, NOW, reason="retry me")
        actions.record(c, [actions.Outcome(a.id, "failed", "timeout", 4, "no answer after 4 attempt(s)")], NOW)
    assert f'actions/{a.id}/retry"' not in console_as("support").get(f"/admin/actions/{a.id}").text
    b: Admin = console_as("admin")
    page = b.get(f"/admin/actions/{a.id}")
    assert f'action="../../admin/actions/{a.id}/retry"' in page.text
    r = b.post(f"/admin/actions/{a.id}/retry", {"csrf": token(b)})
    assert r.code == 200 and "Queued to be sent again" in r.text and f'actions/{a.id}/retry"' not in r.text
    assert daemon.sender.rescans == 1
    with world.db.engine.connect() as c:
        now = actions.get(c, world.demo, a.id)
        entry = c.execute(sa.select(audit_t).where(audit_t.c.target == f"action {a.id}")).one()
    assert now is not None and (now.state, now.attempts, now.outcome) == ("pending", 0, None)
    assert entry.token_name == "admin:admin@demo.example"
    r = b.post(f"/admin/actions/{a.id}/retry", {"csrf": token(b)})
    assert r.code == 400 and "Only a failed action can be retried" in r.text
    with world.db.engine.begin() as c:         # leave no pending action for the other tests
        actions.record(c, [actions.Outcome(a.id, "done", "ack", 1, "ACK")], NOW)
