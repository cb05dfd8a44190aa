"""Changing a NAS (``aaad nas set``): only what is given changes, checks name the field,
the change feed carries it, and another org's NAS of the same name is untouched."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import nas, orgs
from aaad.errors import ValidationError
from aaad.schema import aaa_changes

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_update_changes_only_what_is_given(engine: Any, box: Any) -> None:
    """coa_port and API credentials change; address and secret stay; a change-feed row is written."""
    with engine.begin() as c:
        a = orgs.add(c, "a", "A", T0)
        b = orgs.add(c, "b", "B", T0)
        nas.add(c, box, a.id, "r1", "10.0.0.1", "sec-a", T0)
        nas.add(c, box, b.id, "r1", "10.0.0.2", "sec-b", T0)
        before = c.execute(sa.select(sa.func.count()).select_from(aaa_changes)).scalar_one()
        n = nas.update(c, box, a.id, "r1", T0, coa_port=13799, api_username="aaad", api_password="pw",
                       api_port=8728)
        after = c.execute(sa.select(sa.func.count()).select_from(aaa_changes)).scalar_one()
        other = [x for x in nas.list_all(c, box, b.id)][0]
    assert (n.coa_port, n.address, n.secret, n.api_username, n.api_password, n.api_port) == (
        13799, "10.0.0.1", b"sec-a", "aaad", b"pw", 8728)
    assert after == before + 1
    assert (other.coa_port, other.api_username) == (3799, None)
    with engine.begin() as c:
        n = nas.update(c, box, a.id, "r1", T0, api_password=None, api_username=None)
    assert (n.api_username, n.api_password, n.api_port) == (None, None, 8728)


@pytest.mark.parametrize("kw,field", [({"coa_port": 0}, "coa_port"), ({"secret": ""}, "secret"),
                                      ({"address": "10.0.0.2"}, "address"), ({"type": "cisco"}, "type"),
                                      ({"api_port": 70000}, "api_port")])
def test_bad_values_name_the_field(engine: Any, box: Any, kw: dict[str, Any], field: str) -> None:
    """Each refused value names its field (and nothing is written)."""
    with engine.begin() as c:
        o = orgs.add(c, "a", "A", T0)
        nas.add(c, box, o.id, "r1", "10.0.0.1", "s", T0)
        nas.add(c, box, o.id, "r2", "10.0.0.2", "s", T0)
    with pytest.raises(ValidationError) as e, engine.begin() as c:
        nas.update(c, box, o.id, "r1", T0, **kw)
    assert e.value.field == field


def test_unknown_nas(engine: Any, box: Any) -> None:
    """A name the org does not have is an error naming 'name'."""
    with engine.begin() as c:
        o = orgs.add(c, "a", "A", T0)
        with pytest.raises(ValidationError) as e:
            nas.update(c, box, o.id, "nope", T0, coa_port=1)
    assert e.value.field == "name"
