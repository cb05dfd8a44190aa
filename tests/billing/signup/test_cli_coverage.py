"""``aaad coverage``, ``aaad lead`` and ``aaad contract`` in process (SQLite)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aaad import cli, orgs
from aaad.db import sync_engine
from billing import customers
from billing.signup import contracts, leads


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Africa/Accra", "--currency", "GHS"]) == 0
    return str(p)


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_zones_from_the_command_line(conf: str, tmp_path: Path, capsys: Any) -> None:
    """Add a zone by areas and postcodes and one by a GeoJSON file, list them, check places, remove one; a bad
    polygon is an error naming geojson; an unknown id is an error."""
    rc, out = run(conf, "coverage", "add", "Osu", "--area", "Osu", "--postcode", "ga-1*", capsys=capsys)
    assert rc == 0 and "added (areas, postcodes)" in out
    square = {"type": "Polygon", "coordinates": [[[-0.19, 5.54], [-0.16, 5.54], [-0.16, 5.57], [-0.19, 5.54]]]}
    (tmp_path / "osu.geojson").write_text(json.dumps(square))
    rc, out = run(conf, "coverage", "add", "Square", "--geojson", str(tmp_path / "osu.geojson"), capsys=capsys)
    assert rc == 0 and "(polygon)" in out
    (tmp_path / "bad.geojson").write_text('{"type": "Point", "coordinates": [0, 0]}')
    rc, out = run(conf, "coverage", "add", "Bad", "--geojson", str(tmp_path / "bad.geojson"), capsys=capsys)
    assert rc != 0 and "geojson" in out
    rc, out = run(conf, "coverage", "list", "--json", capsys=capsys)
    zones = json.loads(out)
    assert [z["name"] for z in zones] == ["Osu", "Square"] and zones[0]["postcodes"] == ["GA1*"]
    rc, out = run(conf, "coverage", "check", "--postcode", "GA-123", capsys=capsys)
    assert rc == 0 and "zones: Osu" in out
    rc, out = run(conf, "coverage", "check", "--at", "5.55,-0.17", capsys=capsys)
    assert "zones: Square" in out
    rc, out = run(conf, "coverage", "check", "--area", "Adum", capsys=capsys)
    assert "not yet available here" in out
    assert run(conf, "coverage", "remove", str(zones[1]["id"]), capsys=capsys)[0] == 0
    rc, out = run(conf, "coverage", "remove", "999", capsys=capsys)
    assert rc != 0 and "999" in out


def test_contracts_and_leads_from_the_command_line(conf: str, tmp_path: Path, capsys: Any) -> None:
    """Publish a contract version from a file, list it, see a customer's signature and write its PDF; list the
    org's leads."""
    (tmp_path / "terms.txt").write_text("We connect you.\n\nYou pay on time.")
    rc, out = run(conf, "contract", "add", "--title", "Service agreement", "--file", str(tmp_path / "terms.txt"),
                  capsys=capsys)
    assert rc == 0 and "version 1" in out
    now = datetime.now(UTC)
    e = sync_engine(f"sqlite:///{tmp_path / 'aaad.db'}")
    try:
        with e.begin() as c:
            org = orgs.get_by_slug(c, "isp")
            assert org is not None
            cid = customers.add(c, org.id, now, name="Ama Mensah", email="ama@example.com").id
            k = contracts.current(c, org.id)
            assert k is not None
            s = contracts.sign(c, org.id, cid, k.id, now, full_name="Ama Mensah", agreed=True, ip="192.0.2.3",
                               user_agent="cli test", pdf=b"%PDF-1.4 cli")
            leads.add(c, org.id, now, name="Kwesi Appiah", email="kwesi@example.com")
    finally:
        e.dispose()
    rc, out = run(conf, "contract", "list", capsys=capsys)
    assert "version   1" in out and "Service agreement" in out
    rc, out = run(conf, "contract", "signatures", "--customer", str(cid), "--json", capsys=capsys)
    assert json.loads(out)[0]["ip"] == "192.0.2.3"
    rc, out = run(conf, "contract", "pdf", str(s.id), "-o", str(tmp_path / "s.pdf"), capsys=capsys)
    assert rc == 0 and (tmp_path / "s.pdf").read_bytes() == b"%PDF-1.4 cli"
    rc, out = run(conf, "lead", "list", capsys=capsys)
    assert "Kwesi Appiah" in out and "new" in out
