"""aaad.passwords: argon2id hashes of people's passwords."""
from __future__ import annotations

import subprocess
import sys

from argon2 import PasswordHasher

from aaad import passwords


def test_hash_verifies_and_wrong_empty_or_unreadable_do_not() -> None:
    h = passwords.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert passwords.verify(h, "correct horse")
    assert not passwords.verify(h, "correct horse ")
    assert not passwords.verify(h, "")
    assert not passwords.verify(None, "correct horse")
    assert not passwords.verify("$argon2id$not-a-hash", "correct horse")
    assert not passwords.verify("plain text", "correct horse")


def test_the_daemon_hashes_with_the_library_defaults_and_old_hashes_still_verify() -> None:
    """The tests run on cheaper parameters (tests/conftest.py); the daemon on argon2-cffi's defaults
    (RFC 9106's low-memory profile), and a hash made with either verifies under the other."""
    cheap = passwords.hash_password("pw-12345")
    old = passwords.use(PasswordHasher())
    try:
        strong = passwords.hash_password("pw-12345")
        assert "$m=65536,t=3,p=4$" in strong
        assert passwords.verify(cheap, "pw-12345")
    finally:
        passwords.use(old)
    assert passwords.verify(strong, "pw-12345") and not passwords.verify(strong, "pw-1234")


def test_same_work_verifies_against_a_hash_of_the_current_parameters() -> None:
    passwords.same_work("anything")
    passwords.same_work("")
    assert passwords._dummy is not None and passwords._dummy.startswith("$argon2id$")


def test_a_fresh_process_hashes_at_the_library_defaults() -> None:
    """What the daemon uses: nothing replaced the hasher in a new process."""
    out = subprocess.run([sys.executable, "-c", "from aaad import passwords; print(passwords.hash_password('x'))"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("$argon2id$") and "$m=65536,t=3,p=4$" in out
