"""Sign-up settings, the custom fields of the registration form, the form's validation (pure, with
property tests) and the ID-document checks."""
from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaad.errors import NotFound, ValidationError
from billing.signup import forms, uploads
from tests.billing.fixtures_c import T0, World, make_world

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"


@pytest.fixture
def world(engine: Any) -> World:
    return make_world(engine)


def _spec(**st_: Any) -> forms.FormSpec:
    fields = [
        forms.Field(1, 1, "id_number", "ID number", "text", True, [], "", 0, T0, T0),
        forms.Field(2, 1, "people", "People at home", "number", False, [], "", 10, T0, T0),
        forms.Field(3, 1, "plan", "How did you hear of us", "choice", False, ["radio", "friend"], "", 20, T0, T0),
        forms.Field(4, 1, "terms", "I accept the terms", "checkbox", True, [], "", 30, T0, T0),
        forms.Field(5, 1, "born", "Date of birth", "date", False, [], "", 40, T0, T0),
    ]
    return forms.FormSpec(forms.SignupSettings(1, True, **st_), fields, "GH")


GOOD = {"name": " Ama Mensah ", "email": " AMA@Example.com", "phone": "054 000 0000", "address": "1 Ring Rd",
        "password": "long enough", "confirm": "long enough", "f_id_number": "GHA-1", "f_people": "3",
        "f_plan": "friend", "f_terms": "on", "f_born": "1990-02-03"}


# -- settings and fields ---------------------------------------------------------------------

def test_settings_default_closed_and_update_validates(world: World) -> None:
    """Sign-up is closed with approval required by default; a change is checked (hiding both e-mail and
    phone is refused, naming email_field; a product of no one is refused)."""
    s = world.read(forms.get_settings, world.org_id)
    assert (s.enabled, s.approval, s.email_field, s.document_field) == (False, "required", "required", "hidden")
    s = world.tx(forms.update_settings, world.org_id, NOW, enabled=True, approval="automatic", default_zone=" East ")
    assert (s.enabled, s.approval, s.default_zone) == (True, "automatic", "East")
    with pytest.raises(ValidationError) as e:
        world.tx(forms.update_settings, world.org_id, NOW, email_field="hidden", phone_field="hidden")
    assert e.value.field == "email_field"
    with pytest.raises(ValidationError) as e:
        world.tx(forms.update_settings, world.org_id, NOW, default_product_id=999)
    assert e.value.field == "default_product_id"
    with pytest.raises(ValidationError) as e:
        world.tx(forms.update_settings, world.org_id, NOW, approval="maybe")
    assert e.value.field == "approval"
    pid = world.internet_product()
    assert world.tx(forms.update_settings, world.org_id, NOW, default_product_id=pid).default_product_id == pid


def test_custom_fields_in_order_unique_keys_and_checks(world: World) -> None:
    """Fields come in the admin's order; a key is unique per org and never changes; a choice field needs
    choices; removing one keeps the others; another org's field is not found."""
    a = world.tx(forms.add_field, world.org_id, NOW, key="id_number", label="ID number", kind="text")
    b = world.tx(forms.add_field, world.org_id, NOW, key="plan", label="Plan", kind="choice", choices=["a", "b"])
    assert [f.key for f in world.read(forms.list_fields, world.org_id)] == ["id_number", "plan"]
    world.tx(forms.update_field, world.org_id, b.id, NOW, position=0, required=True)
    assert [f.key for f in world.read(forms.list_fields, world.org_id)] == ["plan", "id_number"]
    for kw, field in (({"key": "id_number", "label": "x", "kind": "text"}, "key"),
                      ({"key": "Bad Key", "label": "x", "kind": "text"}, "key"),
                      ({"key": "c", "label": "x", "kind": "choice"}, "choices"),
                      ({"key": "d", "label": "x", "kind": "colour"}, "kind"),
                      ({"key": "e", "label": " ", "kind": "text"}, "label")):
        with pytest.raises(ValidationError) as e:
            world.tx(forms.add_field, world.org_id, NOW, **kw)
        assert e.value.field == field
    with pytest.raises(ValidationError):
        world.tx(forms.update_field, world.org_id, a.id, NOW, key="other")
    world.tx(forms.remove_field, world.org_id, a.id)
    assert [f.key for f in world.read(forms.list_fields, world.org_id)] == ["plan"]
    other = world.tx(lambda c: __import__("aaad.orgs", fromlist=["add"]).add(c, "o2", "O2", T0, "UTC", "USD"))
    with pytest.raises(NotFound):
        world.tx(forms.update_field, other.id, b.id, NOW, label="mine")
    assert world.read(forms.get_field, other.id, b.id) is None


# -- validation (pure) -----------------------------------------------------------------------

def test_valid_form_is_normalised() -> None:
    """Name trimmed, e-mail lower-cased, phone in E.164, custom values typed (number, date text, bool)."""
    clean, errors = forms.validate(_spec(), GOOD, has_document=False)
    assert errors == {} and clean is not None
    assert (clean.name, clean.email, clean.phone) == ("Ama Mensah", "ama@example.com", "+233540000000")
    assert clean.custom == {"id_number": "GHA-1", "people": 3, "plan": "friend", "terms": True,
                            "born": "1990-02-03"}


def test_each_bad_field_gets_its_message() -> None:
    """Every bad input is named by its input's name, all at once."""
    bad = {**GOOD, "name": "", "email": "not-mail", "phone": "12", "password": "short", "f_id_number": "",
           "f_people": "three", "f_plan": "tv", "f_terms": "", "f_born": "31/12/1990"}
    clean, errors = forms.validate(_spec(document_field="required"), bad, has_document=False)
    assert clean is None
    assert set(errors) == {"name", "email", "phone", "password", "f_id_number", "f_people", "f_plan", "f_terms",
                           "f_born", "document"}
    _, errors = forms.validate(_spec(), {**GOOD, "confirm": "different!"}, has_document=False)
    assert set(errors) == {"confirm"}


def test_email_or_phone_is_needed_and_hidden_fields_are_ignored() -> None:
    """Both optional and both empty: asked for one; a hidden field's value is not taken."""
    s = _spec(email_field="optional", phone_field="optional")
    _, errors = forms.validate(s, {**GOOD, "email": "", "phone": ""}, has_document=False)
    assert set(errors) == {"email"}
    clean, errors = forms.validate(_spec(phone_field="hidden", address_field="hidden"), GOOD, has_document=False)
    assert clean is not None and clean.phone is None and clean.address is None


@given(st.dictionaries(st.sampled_from(sorted(GOOD) + ["junk"]), st.text(max_size=300), max_size=15))
def test_validate_never_raises(data: dict[str, str]) -> None:
    """Whatever is typed, validation answers with a clean form or messages naming inputs of the form."""
    clean, errors = forms.validate(_spec(), data, has_document=False)
    assert (clean is None) == bool(errors)
    assert set(errors) <= set(GOOD) | {"document", "form"}


@given(st.one_of(st.integers(min_value=-10**11, max_value=10**11),
                 st.decimals(min_value=-10**9, max_value=10**9, places=3, allow_nan=False)))
def test_number_field_reads_what_it_shows(n: Any) -> None:
    """A number field's value is the number typed (an integer stays an integer)."""
    f = forms.Field(1, 1, "n", "N", "number", False, [], "", 0, T0, T0)
    v = forms.parse_value(f, str(n))
    assert float(v) == pytest.approx(float(n))
    assert isinstance(v, int) == (float(n) == int(float(n)))


# -- uploads ---------------------------------------------------------------------------------

def test_upload_checks_type_extension_and_size() -> None:
    """PDF, JPEG and PNG pass with their own extension; a lying extension, another type, an empty or an
    oversize file is refused naming the document."""
    assert uploads.check("id.pdf", PDF, 1000) == "application/pdf"
    assert uploads.check("C:\\scans\\ID.JPEG", JPEG, 1000) == "image/jpeg"
    assert uploads.check("id.png", PNG, 1000) == "image/png"
    for name, data, limit in (("id.pdf", PNG, 1000), ("id.png", b"<script>alert(1)</script>", 1000),
                              ("id.exe", PDF, 1000), ("id.pdf", b"", 1000), ("id.pdf", PDF + b"x" * 2000, 1000),
                              ("id.png.pdf", PNG, 1000), ("id", PDF, 1000)):
        with pytest.raises(ValidationError) as e:
            uploads.check(name, data, limit)
        assert e.value.field == "document"


def test_upload_is_stored_privately_and_read_back(tmp_path: Path) -> None:
    """A stored document gets a random name under the data directory, mode 0600, is read back by its org
    only, and a path outside the org's folder is refused."""
    d = uploads.store(tmp_path, 7, "../../etc/passwd.pdf", PDF, 10_000)
    assert d.path.startswith("signup-documents/7/") and d.path.endswith(".pdf") and d.name == "passwd.pdf"
    assert stat.S_IMODE(os.stat(tmp_path / d.path).st_mode) == 0o600
    assert uploads.read(tmp_path, 7, d.path) == PDF
    with pytest.raises(ValueError):
        uploads.read(tmp_path, 8, d.path)
    with pytest.raises(ValueError):
        uploads.read(tmp_path, 7, "signup-documents/7/../../secret.key")
