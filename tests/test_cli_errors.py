"""Config and permission errors: a clear message naming the key, exit 2, no traceback.

Every case runs the real CLI (``python -m aaad``) as a subprocess.  The
tests run as root, who ignores permission bits, so "permission denied" is
produced by running the CLI without the capabilities that override them
(``setpriv --bounding-set -dac_override,-dac_read_search``); "not a
directory" by a data directory under a regular file; "read-only file
system" by a read-only tmpfs mount.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_config

# Every command that opens the database (and `serve`) checks the data directory first: the
# daemon, `db upgrade`, and the commands built on the CLI's Context (the core's and accounting's).
DB_COMMANDS = [["serve"], ["db", "upgrade"], ["org", "list"], ["sessions"]]


def aaad(*args: str, env: dict[str, str] | None = None,
         unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the CLI; ``unprivileged`` drops root's power to ignore permission bits."""
    prefix: list[str] = []
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to test permissions as root")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AAAD_")}
    return subprocess.run([*prefix, sys.executable, "-m", "aaad", *args], capture_output=True, text=True,
                          timeout=60, cwd=str(ROOT), env=base | (env or {}))


def assert_config_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, the usual "configuration has N error(s)" report containing each fragment, no traceback."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "aaad: configuration has" in r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr


@pytest.fixture
def ro_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs mounted in tmp_path, unmounted afterwards."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


# -- the config file ------------------------------------------------------------

def test_missing_config_file(tmp_path: Path) -> None:
    """A config path that does not exist: exit 2, "file not found"."""
    assert_config_error(aaad("-c", str(tmp_path / "nope.toml"), "config", "check"), "nope.toml", "file not found")


def test_toml_syntax_error(tmp_path: Path) -> None:
    """A TOML syntax error: exit 2 with the line and column."""
    p = tmp_path / "bad.toml"
    p.write_text("[server]\ndata_dir = \n")
    assert_config_error(aaad("-c", str(p), "config", "check"), "not valid TOML", "line 2")


def test_config_not_utf8(tmp_path: Path) -> None:
    """A config file that is not UTF-8 text: exit 2, not a UnicodeDecodeError."""
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe[server]\n")
    assert_config_error(aaad("-c", str(p), "config", "check"), "not UTF-8")


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    """A config path that is a directory: exit 2, "is a directory"."""
    d = tmp_path / "conf.toml"
    d.mkdir()
    assert_config_error(aaad("-c", str(d), "serve"), "conf.toml", "is a directory")


def test_unreadable_config(tmp_path: Path) -> None:
    """A config file the process may not read: exit 2, "cannot be read (Permission denied)"."""
    p = tmp_path / "secret.toml"
    p.write_text("[server]\n")
    p.chmod(0)
    assert_config_error(aaad("-c", str(p), "serve", unprivileged=True),
                        "secret.toml", "cannot be read (Permission denied)")


# -- the data directory -----------------------------------------------------------

@pytest.mark.parametrize("command", DB_COMMANDS, ids=" ".join)
def test_data_dir_under_a_file(tmp_path: Path, command: list[str]) -> None:
    """data_dir below a regular file cannot be created: every database command exits 2 naming the key."""
    (tmp_path / "afile").write_text("")
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path / "afile" / "data")
    assert_config_error(aaad("-c", str(conf), *command), "server.data_dir", "cannot be created")


def test_config_check_reports_data_dir_under_a_file(tmp_path: Path) -> None:
    """`config check` finds a data directory that could not be created."""
    (tmp_path / "afile").write_text("")
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path / "afile" / "data")
    assert_config_error(aaad("-c", str(conf), "config", "check"),
                        "server.data_dir", "cannot be created", "afile is not a directory")


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]], ids=" ".join)
def test_data_dir_not_writable(tmp_path: Path, command: list[str]) -> None:
    """An existing data directory without write permission: exit 2, "is not writable (Permission denied)"."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    conf = tmp_path / "aaad.toml"
    write_config(conf, data)
    assert_config_error(aaad("-c", str(conf), *command, unprivileged=True),
                        "server.data_dir", "is not writable (Permission denied)")


def test_data_dir_not_creatable_without_permission(tmp_path: Path) -> None:
    """A missing data directory whose parent may not be written: `serve` exits 2 and `config check` says so."""
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    conf = tmp_path / "aaad.toml"
    write_config(conf, parent / "data")
    assert_config_error(aaad("-c", str(conf), "serve", unprivileged=True),
                        "server.data_dir", "cannot be created (Permission denied)")
    assert_config_error(aaad("-c", str(conf), "config", "check", unprivileged=True),
                        "server.data_dir", "locked is not writable")


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]], ids=" ".join)
def test_data_dir_on_read_only_file_system(ro_mount: Path, tmp_path: Path, command: list[str]) -> None:
    """A data directory on a read-only file system: exit 2 naming "Read-only file system"."""
    conf = tmp_path / "aaad.toml"
    write_config(conf, ro_mount)
    assert_config_error(aaad("-c", str(conf), *command), "server.data_dir", "Read-only file system")


def test_config_check_says_data_dir_is_writable(tmp_path: Path) -> None:
    """`config check` says the data directory is writable, or can be created (without creating it)."""
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path / "data")
    r = aaad("-c", str(conf), "config", "check")
    assert r.returncode == 0, r.stderr
    assert "can be created" in r.stdout
    assert not (tmp_path / "data").exists()
    (tmp_path / "data").mkdir()
    r = aaad("-c", str(conf), "config", "check")
    assert r.returncode == 0 and f"data directory {tmp_path / 'data'}: writable" in r.stdout


# -- the key file -------------------------------------------------------------

def test_unreadable_key_file(tmp_path: Path) -> None:
    """A key file the process may not read: exit 2 naming secrets.key_file."""
    key = tmp_path / "keys" / "secret.key"
    key.parent.mkdir()
    key.write_text("x\n")
    key.chmod(0)
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path / "data", extra=f'[secrets]\nkey_file = "{key}"')
    assert_config_error(aaad("-c", str(conf), "org", "list", unprivileged=True),
                        "secrets.key_file", "cannot be read (Permission denied)")


def test_garbled_key_file(tmp_path: Path) -> None:
    """A key file that is not a key: exit 2 naming secrets.key_file, no traceback."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("not base64 at all!\n")
    conf = tmp_path / "aaad.toml"
    write_config(conf, data)
    r = aaad("-c", str(conf), "demo")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "secrets.key_file" in r.stderr and "not a base64 key" in r.stderr


# -- AAAD_CONFIG ----------------------------------------------------------------

def test_aaad_config_is_the_default_config(tmp_path: Path) -> None:
    """AAAD_CONFIG names the config when -c is not given; -c still wins."""
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    write_config(good, tmp_path / "data")
    bad.write_text("[nope]\n")
    r = aaad("config", "check", env={"AAAD_CONFIG": str(good)})
    assert r.returncode == 0 and f"{good}: OK" in r.stdout
    assert_config_error(aaad("config", "check", env={"AAAD_CONFIG": str(bad)}), "nope", "unknown section")
    r = aaad("-c", str(good), "config", "check", env={"AAAD_CONFIG": str(bad)})
    assert r.returncode == 0, r.stderr
