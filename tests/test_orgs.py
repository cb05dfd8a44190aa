"""Org slugs: the web root's top-level paths are reserved."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aaad import cli, orgs
from aaad.errors import ValidationError


@pytest.mark.parametrize("slug", ["api", "static", "healthz", "metrics", "admin"])
def test_reserved_slugs_are_refused(slug: str) -> None:
    """A slug that is a top-level path of the web root is a ValidationError on the slug field."""
    with pytest.raises(ValidationError) as e:
        orgs.validate(slug, "UTC", "USD")
    assert e.value.field == "slug" and "reserved" in e.value.message


def test_slugs_that_merely_contain_a_reserved_word_are_fine() -> None:
    """Only the exact words are reserved: api-net and my-admin are ordinary slugs."""
    orgs.validate("api-net", "UTC", "USD")
    orgs.validate("my-admin", "UTC", "USD")


def test_org_add_api_exits_2_with_the_reason(tmp_path: Path, capsys: Any) -> None:
    """`aaad org add api` exits 2 and says the slug is reserved; no org is created."""
    conf = tmp_path / "aaad.toml"
    conf.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    assert cli.main(["-c", str(conf), "org", "add", "api", "--name", "API Net"]) == 2
    err = capsys.readouterr().err
    assert "slug" in err and "'api' is reserved" in err
    assert cli.main(["-c", str(conf), "org", "list"]) == 0
    assert "api" not in capsys.readouterr().out.split()


def test_validation_error_still_importable_from_orgs() -> None:
    """aaad.orgs.ValidationError is the shared domain error (moved to aaad.errors)."""
    assert orgs.ValidationError is ValidationError
