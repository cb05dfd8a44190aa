"""Leads (billing.signup.leads): contact details of visitors the org does not reach yet."""
from __future__ import annotations

from typing import Any

import pytest

from aaad.errors import NotFound, ValidationError
from billing.signup import leads
from billing.signup.coverage import Place
from tests.billing.signup.conftest import T0, org


def test_a_lead_keeps_contacts_normalised_and_the_place(conn: Any) -> None:
    """E-mail lower-cased, phone to E.164 in the org's country, postcode normalised, status new."""
    a = org(conn)
    got = leads.add(conn, a, T0, name="  Kofi   Boateng ", email="Kofi@Example.COM", phone="024 123 4567",
                    note="Near the school", place=Place(postcode="gt-044 1234", latitude=5.6, longitude=-0.1))
    assert (got.name, got.email, got.phone, got.postcode, got.status) == (
        "Kofi Boateng", "kofi@example.com", "+233241234567", "GT0441234", "new")
    assert (got.latitude, got.longitude, got.note) == (5.6, -0.1, "Near the school")


@pytest.mark.parametrize("kw, field", [
    ({"name": ""}, "name"), ({"name": "Kofi"}, "email"), ({"name": "Kofi", "email": "nope"}, "email"),
    ({"name": "Kofi", "phone": "12"}, "phone"), ({"name": "Kofi", "email": "k@x.com", "note": "x" * 2001}, "note"),
])
def test_bad_contacts_name_the_field(conn: Any, kw: dict[str, Any], field: str) -> None:
    """A missing name, no way to reach them, a bad e-mail or phone, a long note: ValidationError(field)."""
    with pytest.raises(ValidationError) as e:
        leads.add(conn, org(conn), T0, **kw)
    assert e.value.field == field


def test_admins_work_through_leads_in_their_org_only(conn: Any) -> None:
    """Status moves new -> contacted; filters by status and postcode prefix; another org's lead is NotFound."""
    a, b = org(conn), org(conn, "other")
    one = leads.add(conn, a, T0, name="Ama", email="ama@example.com", place=Place(postcode="GA-1"))
    leads.add(conn, a, T0, name="Yaw", email="yaw@example.com", place=Place(area="Osu"))
    assert leads.update(conn, a, one.id, T0, status="contacted").status == "contacted"
    with pytest.raises(ValidationError):
        leads.update(conn, a, one.id, T0, status="won")
    with pytest.raises(NotFound):
        leads.update(conn, b, one.id, T0, status="closed")
    assert [x.name for x in leads.page(conn, a, status="new").items] == ["Yaw"]
    assert [x.name for x in leads.page(conn, a, postcode="ga").items] == ["Ama"]
    assert [x.name for x in leads.page(conn, a, area="osu").items] == ["Yaw"]
    assert leads.page(conn, b).items == []
