"""``aaad customer add --package --charge --send-credentials`` in process (SQLite): the voucher assigned,
the invoice when charged, the login details queued by e-mail; errors as one line and exit 2."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import app
from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from billing.notify import settings as ns
from billing.notify.schema import messages as msg_t
from billing.vouchers import packages
from tests.billing.test_cli_customers import T0, conf, inproc  # noqa: F401 - the fixture


@pytest.fixture
def engine(conf: str, tmp_path: Path) -> Any:  # noqa: F811
    """The config's database, its org's e-mail to files, one voucher package (the stand-in's)."""
    e = sync_engine(app.database_url(app.load_config(conf)))
    box = app.secret_box(app.load_config(conf))
    with e.begin() as c:
        ns.set_channel(c, box, 1, "email", T0, provider="file",
                       settings={"directory": str(tmp_path / "mail"), "from_address": "hi@isp.example"})
        packages.add(c, LoginWriter(box), 1, T0, name="1 day", price=5_00)
    yield e
    e.dispose()


def test_customer_add_with_package_and_credentials(conf: str, engine: Any, capsys: Any) -> None:  # noqa: F811
    """--package assigns a voucher (invoiced with --charge), --send-credentials queues the e-mail; --json
    says so."""
    rc, out, err = inproc(conf, capsys, "customer", "add", "Ama Mensah", "--email", "ama@example.com",
                          "--package", "1", "--charge", "--send-credentials", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["voucher_id"] == 1 and d["charged"] is True and d["credentials_sent"] is True
    with engine.connect() as c:
        kinds = [r.kind for r in c.execute(sa.select(msg_t.c.kind).where(msg_t.c.customer_id == d["id"]))]
    assert kinds == ["customer.credentials"]
    rc, out, err = inproc(conf, capsys, "customer", "add", "Yaw", "--package", "1")
    assert rc == 0 and "assigned free of charge" in out


def test_customer_add_errors(conf: str, engine: Any, capsys: Any) -> None:  # noqa: F811
    """--send-credentials without --email, or an unknown package, is one line naming the field, exit 2."""
    rc, _, err = inproc(conf, capsys, "customer", "add", "Kofi", "--send-credentials")
    assert rc == 2 and "send_credentials" in err
    rc, _, err = inproc(conf, capsys, "customer", "add", "Kofi", "--package", "99")
    assert rc == 2 and "package_id" in err


def test_signup_mode_on_the_command_line(conf: str, engine: Any, capsys: Any) -> None:  # noqa: F811
    """aaad billing signup --mode hotspot sets the sign-up's mode (shown with the others); a bad one is refused."""
    rc, out, err = inproc(conf, capsys, "billing", "signup", "--enable", "--mode", "hotspot", "--json")
    assert rc == 0, err
    assert json.loads(out)["mode"] == "hotspot" and json.loads(out)["enabled"] is True
    with pytest.raises(SystemExit):
        inproc(conf, capsys, "billing", "signup", "--mode", "cafe")
