"""The ``file`` provider of every channel: messages written to a folder instead of sent.

For trying templates and rules without a mail server or an SMS account (the demo
uses it), and for operators who hand messages to another system: each email is
a complete RFC 5322 ``.eml`` file (what SMTP would have carried: headers, both
parts, attachments), each SMS or WhatsApp message a ``.txt`` file with the
recipient on its first line.  Files are named after the outbox message id, so a
message written twice (a crash between the write and its record) is the same file.

Settings: ``directory`` (absolute path; created if missing), ``from_address``
(email only, default ``aaad@localhost``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer

from aaad.errors import ValidationError
from billing.notify import email
from billing.notify.channels import EMAIL, Outgoing, SendError, Sent

SECRET_FIELDS: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSettings:
    directory: str
    from_address: str = "aaad@localhost"


def parse_settings(settings: dict[str, Any], secrets: dict[str, Any]) -> FileSettings:
    unknown = set(settings) - {"directory", "from_address"}
    if unknown:
        k = sorted(unknown)[0]
        raise ValidationError(k, "unknown setting (a file channel has directory and from_address)")
    d = settings.get("directory")
    if not isinstance(d, str) or not d.startswith("/"):
        raise ValidationError("directory", "an absolute path of a folder to write messages to")
    frm = settings.get("from_address", "aaad@localhost")
    if not isinstance(frm, str) or "@" not in frm:
        raise ValidationError("from_address", "an e-mail address")
    return FileSettings(os.path.normpath(d), frm)


def public_settings(s: FileSettings) -> dict[str, Any]:
    return {"directory": s.directory, "from_address": s.from_address}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class FileChannel:
    def __init__(self, name: str, settings: FileSettings, clock: Any):
        self.name = name
        self.settings = settings
        self.clock = clock

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        try:
            folder = Path(self.settings.directory)
            if self.name == EMAIL:
                smtp = email.SmtpSettings(host="localhost", from_address=self.settings.from_address)
                mid, data = email.build_message(smtp, msg, domain=smtp.domain, now=self.clock.seconds())
                path = folder / f"{msg.org_id}-{msg.message_id}.eml"
                _write(path, data)
                return defer.succeed(Sent(mid, f"written to {path}"))
            path = folder / f"{msg.org_id}-{msg.message_id}-{self.name}.txt"
            _write(path, f"To: {msg.to}\n\n{msg.text}\n".encode())
            return defer.succeed(Sent(path.name, f"written to {path}"))
        except OSError as e:
            return defer.fail(SendError(f"cannot write to {self.settings.directory}: {e}", retryable=True))
