"""Configuration: every error at once, with key paths; env overrides; docs."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aaad import app, config


def test_defaults_load_without_a_file() -> None:
    """With no file the built-in defaults make a valid config."""
    c = app.load_config(None, environ={})
    assert c.radius.auth_port == 1812
    assert c.database.sqlite_synchronous == "NORMAL"


def test_three_mistakes_are_reported_together(tmp_path: Path) -> None:
    """An unknown key, a wrong type and a bad value are all reported, with paths and file."""
    p = tmp_path / "bad.toml"
    p.write_text('[radius]\nauth_prot = 1812\nreject_delay = "slow"\n[web]\nport = 70000\n')
    with pytest.raises(config.ConfigErrors) as e:
        app.load_config(str(p), environ={})
    paths = sorted(err.path for err in e.value.errors)
    assert paths == ["radius.auth_prot", "radius.reject_delay", "web.port"]
    assert all(err.source == str(p) for err in e.value.errors)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    """A section no package declares is reported, not ignored."""
    p = tmp_path / "c.toml"
    p.write_text("[radious]\nauth_port = 1\n")
    with pytest.raises(config.ConfigErrors) as e:
        app.load_config(str(p), environ={})
    assert [err.path for err in e.value.errors] == ["radious"]


def test_tls_needs_both_files_and_they_must_exist(tmp_path: Path) -> None:
    """[web] tls_cert without tls_key, or a missing file, is a config error naming the section."""
    p = tmp_path / "t.toml"
    p.write_text(f'[web]\ntls_cert = "{tmp_path / "nope.pem"}"\n')
    with pytest.raises(config.ConfigErrors) as e:
        app.load_config(str(p), environ={})
    assert e.value.errors[0].path == "web" and "go together" in str(e.value)
    p.write_text(f'[web]\ntls_cert = "{tmp_path / "nope.pem"}"\ntls_key = "{tmp_path / "nope.key"}"\n')
    with pytest.raises(config.ConfigErrors) as e:
        app.load_config(str(p), environ={})
    assert "no such file" in str(e.value)


def test_environment_overrides_and_their_errors() -> None:
    """AAAD_SECTION__KEY overrides the file; a bad override names the variable."""
    c = app.load_config(None, environ={"AAAD_RADIUS__AUTH_PORT": "11812", "AAAD_WEB__ADDRESS": "0.0.0.0"})
    assert c.radius.auth_port == 11812 and c.web.address == "0.0.0.0"
    with pytest.raises(config.ConfigErrors) as e:
        app.load_config(None, environ={"AAAD_RADIUS__AUTH_PORT": "many"})
    assert e.value.errors[0].path == "radius.auth_port"
    assert "AAAD_RADIUS__AUTH_PORT" in e.value.errors[0].source


def test_every_key_is_documented_in_the_example() -> None:
    """conf/aaad.example.toml mentions every key of every section."""
    import dataclasses
    text = (Path(__file__).resolve().parents[1] / "conf" / "aaad.example.toml").read_text()
    for sect, cls in app.schema().items():
        assert f"[{sect}]" in text, sect
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), f"{sect}.{f.name} has no doc"
            assert f"{f.name} =" in text, f"{sect}.{f.name} missing from the example"


def test_example_config_is_valid() -> None:
    """The shipped example parses and validates."""
    root = Path(__file__).resolve().parents[1]
    app.load_config(str(root / "conf" / "aaad.example.toml"), environ={})


def test_bad_config_exits_2_before_binding(tmp_path: Path) -> None:
    """`aaad serve` with a bad config exits 2, lists all errors and binds nothing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web = s.getsockname()[1]
    p = tmp_path / "bad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}/data"\n[web]\nport = {web}\nbogus = 1\n'
                 '[radius]\nauth_port = -5\n[database]\nread_pool_size = "x"\n')
    r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(p), "serve"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    for path in ("web.bogus", "radius.auth_port", "database.read_pool_size"):
        assert path in r.stderr
    assert "3 error(s)" in r.stderr
    assert not (tmp_path / "data").exists()
    with socket.socket() as s:  # the web port was never taken
        s.bind(("127.0.0.1", web))
