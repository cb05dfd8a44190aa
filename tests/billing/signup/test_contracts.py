"""Contracts (billing.signup.contracts): versions, the current one, signatures with a PDF copy."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aaad.errors import NotFound, ValidationError
from billing.signup import contracts
from tests.billing.signup.conftest import T0, customer, org

TEXT = "Terms of service\n\nWe connect you.\n\nYou pay <monthly> & on time."


def test_versions_count_up_and_the_newest_is_current(conn: Any) -> None:
    """Each new text is the next version; current() is the newest; another org has none."""
    a, b = org(conn), org(conn, "other")
    assert contracts.current(conn, a) is None
    v1 = contracts.add_version(conn, a, T0, title="Service agreement", body=TEXT)
    v2 = contracts.add_version(conn, a, T0, title="Service agreement", body=TEXT + "\n\nNew clause.")
    assert (v1.version, v2.version) == (1, 2)
    cur = contracts.current(conn, a)
    assert cur is not None and cur.id == v2.id and cur.paragraphs[-1] == "New clause."
    assert contracts.current(conn, b) is None and contracts.get(conn, b, v1.id) is None
    assert [c.version for c in contracts.page(conn, a).items] == [2, 1]
    for kw, field in (({"title": " ", "body": "x"}, "title"), ({"title": "T", "body": "  "}, "body")):
        with pytest.raises(ValidationError) as e:
            contracts.add_version(conn, a, T0, **kw)
        assert e.value.field == field


def test_signing_requires_a_name_and_the_tick() -> None:
    """No typed name: field full_name; not ticked: field agree."""
    with pytest.raises(ValidationError) as e:
        contracts.check_signature(" ", True)
    assert e.value.field == "full_name"
    with pytest.raises(ValidationError) as e:
        contracts.check_signature("Ama Mensah", False)
    assert e.value.field == "agree"
    assert contracts.check_signature("  Ama   Mensah ", True) == "Ama Mensah"


def test_a_signature_keeps_who_when_where_and_the_pdf(conn: Any, tmp_path: Path) -> None:
    """sign() stores version, typed name, time, IP and user agent with the PDF; once signed, nothing is left
    to sign and signing again returns the same signature."""
    a = org(conn)
    cid = customer(conn, a)
    c = contracts.add_version(conn, a, T0, title="Service agreement", body=TEXT)
    assert contracts.to_sign(conn, a, cid) == c
    html = contracts.signed_html(conn, a, c.id, cid, full_name="Ama Mensah", signed_at=T0, ip="192.0.2.7",
                                 user_agent="Firefox/1")
    assert "You pay &lt;monthly&gt; &amp; on time." in html and "192.0.2.7" in html and "Firefox/1" in html
    pdf = contracts.signed_pdf(conn, a, c.id, cid, full_name="Ama Mensah", signed_at=T0, ip="192.0.2.7",
                               user_agent="Firefox/1")
    s = contracts.sign(conn, a, cid, c.id, T0, full_name="Ama Mensah", agreed=True, ip="192.0.2.7",
                       user_agent="Firefox/1", pdf=pdf)
    assert (s.version, s.full_name, s.signed_at, s.ip, s.user_agent) == (1, "Ama Mensah", T0, "192.0.2.7",
                                                                         "Firefox/1")
    assert contracts.to_sign(conn, a, cid) is None
    again = contracts.sign(conn, a, cid, c.id, T0, full_name="Someone Else", agreed=True, ip="x", user_agent="",
                           pdf=pdf)
    assert again == s and contracts.signatures_of(conn, a, cid) == [s]
    stored = contracts.signature_pdf(conn, a, s.id)
    assert stored == pdf and stored.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        p = tmp_path / "c.pdf"
        p.write_bytes(stored)
        text = subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True, check=True).stdout
        assert "Ama Mensah" in text and "192.0.2.7" in text and "Version 1" in text


def test_an_outdated_version_or_another_org_cannot_be_signed(conn: Any) -> None:
    """Signing a version that is no longer current: ValidationError('contract'); another org's contract or
    signature: NotFound."""
    a, b = org(conn), org(conn, "other")
    cid = customer(conn, a)
    v1 = contracts.add_version(conn, a, T0, title="T", body="v1")
    contracts.add_version(conn, a, T0, title="T", body="v2")
    with pytest.raises(ValidationError) as e:
        contracts.sign(conn, a, cid, v1.id, T0, full_name="Ama Mensah", agreed=True, ip="1", user_agent="",
                       pdf=b"%PDF-1.7")
    assert e.value.field == "contract"
    with pytest.raises(NotFound):
        contracts.sign(conn, b, cid, v1.id, T0, full_name="Ama Mensah", agreed=True, ip="1", user_agent="",
                       pdf=b"%PDF-1.7")
    bc = contracts.add_version(conn, b, T0, title="T", body="b")
    with pytest.raises(NotFound):
        contracts.sign(conn, b, cid, bc.id, T0, full_name="Ama Mensah", agreed=True, ip="1", user_agent="",
                       pdf=b"%PDF-1.7")
    s = contracts.sign(conn, a, cid, contracts.current(conn, a).id, T0,  # type: ignore[union-attr]
                       full_name="Ama Mensah", agreed=True, ip="1", user_agent="", pdf=b"%PDF-1.7")
    with pytest.raises(NotFound):
        contracts.signature_pdf(conn, b, s.id)
    assert contracts.get_signature(conn, b, s.id) is None
    assert contracts.signature_page(conn, b).items == []
