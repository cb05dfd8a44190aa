"""Identity documents uploaded with a registration: checked, then kept outside any served folder.

A document is accepted when its content is a PDF, a JPEG or a PNG (sniffed from its first
bytes, whatever the browser claimed), the file name's extension names that same type (a
``.pdf`` that is really a picture, or a ``.png`` that is really a script, is refused), and it
is not larger than the org's limit.  It is stored under ``<data_dir>/signup-documents/<org>/``
with a random name and mode 0600; nothing on the web serves that folder: admins read a document
through the API (:func:`read`).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aaad.errors import ValidationError

FOLDER = "signup-documents"
TYPES = {"application/pdf": (".pdf",), "image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",)}
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


@dataclass(frozen=True)
class Document:
    path: str            # relative to the data directory
    content_type: str
    size: int
    name: str            # the applicant's file name, for the admin's download


def sniff(data: bytes) -> str | None:
    """The type the content is (PDF, JPEG, PNG), or None."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def safe_name(filename: str) -> str:
    """The last part of a file name as sent, printable, at most 100 characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in "\"';<>")
    return base[-100:] or "document"


def check(filename: str, data: bytes, max_bytes: int) -> str:
    """The content type of an acceptable document; ValidationError("document") with what is wrong."""
    if not data:
        raise ValidationError("document", "The file is empty.")
    if len(data) > max_bytes:
        raise ValidationError("document", f"The file is larger than {max_bytes // 1024} kB.")
    kind = sniff(data)
    if kind is None:
        raise ValidationError("document", "Send a PDF, JPEG or PNG file.")
    ext = PurePosixPath(safe_name(filename).lower()).suffix
    if ext not in TYPES[kind]:
        raise ValidationError("document", "The file's name does not match its content: send a PDF, JPEG or "
                                          "PNG file with its own extension.")
    return kind


def store(data_dir: str | Path, org_id: int, filename: str, data: bytes, max_bytes: int) -> Document:
    """Check (see :func:`check`) and keep a document; its path is relative to ``data_dir``."""
    kind = check(filename, data, max_bytes)
    folder = Path(data_dir) / FOLDER / str(int(org_id))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    rel = f"{FOLDER}/{int(org_id)}/{secrets.token_hex(16)}{TYPES[kind][0]}"
    fd = os.open(Path(data_dir) / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Document(rel, kind, len(data), safe_name(filename))


def read(data_dir: str | Path, org_id: int, rel: str) -> bytes:
    """A stored document of ``org_id``; ValueError for a path outside the org's folder."""
    base = (Path(data_dir) / FOLDER / str(int(org_id))).resolve()
    p = (Path(data_dir) / rel).resolve()
    if base not in p.parents:
        raise ValueError("not a document of this org")
    return p.read_bytes()


def remove(data_dir: str | Path, org_id: int, rel: str) -> None:
    """Delete a stored document (a registration's replaced document); missing is fine."""
    base = (Path(data_dir) / FOLDER / str(int(org_id))).resolve()
    p = (Path(data_dir) / rel).resolve()
    if base in p.parents:
        p.unlink(missing_ok=True)
