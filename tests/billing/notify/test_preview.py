"""What the admin API's notification resources need of the domain: an unsaved template checked and
previewed in the org's branding without being stored, nesting refused as a field error, the notify
settings naming their own fields, and message pages read through keyset paging."""
from __future__ import annotations

from typing import Any

import pytest

from aaad.errors import ValidationError
from billing import settings as billing_settings
from billing.notify import outbox, sender, templates
from billing.notify import settings as ns
from billing.notify.schema import templates as tpl_t
from tests.billing.notify.harness import Notify, make


@pytest.fixture
def n(engine: Any) -> Notify:
    return make(engine)


def test_draft_checks_each_part_and_stores_nothing(n: Notify) -> None:
    """draft() refuses like put() (field and line) and returns an unsaved template; no row is written."""
    t = templates.draft("customer.welcome", "email", subject="Hi {{ customer.first_name }}", body="Welcome")
    assert (t.kind, t.channel, t.subject, t.html) == ("customer.welcome", "email", "Hi {{ customer.first_name }}",
                                                      None)
    with pytest.raises(ValidationError) as e:
        templates.draft("customer.welcome", "sms", body="ok\n{{ nope }}")
    assert e.value.field == "body" and "line 2" in e.value.message
    with pytest.raises(ValidationError) as e:
        templates.draft("customer.welcome", "email", body="ok")
    assert e.value.field == "subject"
    with n.w.engine.connect() as c:
        assert c.execute(tpl_t.select()).first() is None


def test_check_refuses_deep_nesting_as_a_field_error() -> None:
    """Expressions nested past the parser's recursion are a ValidationError naming the field, not a crash."""
    with pytest.raises(ValidationError) as e:
        templates.check("customer.welcome", "html", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", html=True)
    assert e.value.field == "html"


def test_preview_of_unsaved_text_uses_the_orgs_brand(n: Notify) -> None:
    """preview(unsaved=...) renders the draft, not the stored template, in the org's branding (sender.brand)."""
    n.w.tx(billing_settings.update, n.org_id, n.now, brand_name="Accra Fibre", brand_colour="#112233")
    t = templates.draft("invoice.issued", "email", subject="Pay {{ invoice.amount_due }}", body="Thanks")
    with n.w.engine.connect() as c:
        brand = sender.brand(c, n.org_id)
        r = templates.preview(c, n.org_id, "invoice.issued", "email", brand, unsaved=t)
        stored = templates.preview(c, n.org_id, "invoice.issued", "email", brand)
    assert brand.name == "Accra Fibre" and brand.colour == "#112233"
    assert r.subject == "Pay GH₵120.00" and r.text == "Thanks"
    assert r.html is not None and "Accra Fibre" in r.html and "#112233" in r.html
    assert stored.subject == "Invoice INV-000123 from Demo ISP"


def test_notify_settings_name_their_own_fields(n: Notify) -> None:
    """A bad admin e-mail or phone is a ValidationError naming admin_email / admin_phone."""
    for field, value in (("admin_email", "nobody@"), ("admin_email", "plain"), ("admin_phone", "12")):
        with pytest.raises(ValidationError) as e:
            n.w.tx(ns.update, n.org_id, n.now, **{field: value})
        assert e.value.field == field


def test_message_pages_read_through_keyset_paging(n: Notify) -> None:
    """outbox.page returns messages (paging's sort columns are not fields) and pages with its cursor."""
    cid = n.w.customer("ama", "Ama Mensah")
    n.contact(cid, email="ama@example.com", phone="0540000001")
    n.w.tx(outbox.queue, n.w.box, n.org_id, [outbox.Draft("customer.welcome", "t:1", cid)], n.now)
    with n.w.engine.connect() as c:
        first = outbox.page(c, n.org_id, sort="created_at", limit=1)
        assert first.next_cursor is not None
        second = outbox.page(c, n.org_id, sort="created_at", limit=1, cursor=first.next_cursor)
    assert [m.channel for m in first.items + second.items] == ["email", "sms"]
