"""Documents on the command line: an invoice, credit note or payment receipt as HTML or PDF.

``aaad document invoice|credit-note|receipt NUMBER [--pdf] [-o FILE]`` stands
alone; the same commands join their groups through ``add_invoice_commands``
(``aaad invoice pdf|html NUMBER``), ``add_credit_note_commands`` (``aaad
credit-note pdf|html NUMBER``) and ``add_payment_commands`` (``aaad payment
receipt RECEIPT_NUMBER [--pdf]``), each given its group's sub-parsers.

Without ``-o``, HTML goes to standard output and a PDF to ``NUMBER.pdf`` in
the current directory (``-o -`` writes either to standard output).
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

KINDS: dict[str, tuple[str, str, str]] = {
    # kind: (what, lookup function, render-html function) in billing.documents
    "invoice": ("invoice", "invoice_id_by_number", "render_invoice_html"),
    "credit-note": ("credit note", "credit_note_id_by_number", "render_credit_note_html"),
    "receipt": ("receipt", "payment_id_by_receipt", "render_receipt_html"),
}


def _safe_name(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", number) or "document"


def _html(ctx: Any, org_id: int, kind: str, number: str) -> str:
    from aaad.cli import EXIT_USAGE, CliError
    from aaad.errors import NotFound
    from billing import documents
    _what, lookup, render = KINDS[kind]
    find: Callable[[Connection, int, str], int] = getattr(documents, lookup)
    html_of: Callable[[Connection, int, int], str] = getattr(documents, render)
    try:
        with ctx.engine.connect() as conn:
            return html_of(conn, org_id, find(conn, org_id, number))
    except NotFound as e:
        raise CliError(e.message, EXIT_USAGE) from None


def write_document(args: argparse.Namespace, kind: str, pdf: bool) -> int:
    """Render one document and write it where ``-o`` says (see the module docstring)."""
    from aaad.cli import Context
    from billing import documents
    ctx = Context(args)
    html = _html(ctx, ctx.org_id(args.org), kind, args.number)
    data = documents.html_to_pdf(html) if pdf else html.encode()
    out = args.output
    if out is None and not pdf:
        out = "-"
    if out is None:
        out = f"{_safe_name(args.number)}.pdf"
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    Path(out).write_bytes(data)
    print(f"{KINDS[kind][0]} {args.number}: wrote {out} ({len(data)} bytes, {'PDF' if pdf else 'HTML'})",
          file=sys.stderr)
    return 0


def _add(sub: Any, name: str, kind: str, pdf: bool | None, helptext: str) -> None:
    """One command: ``pdf`` True/False fixes the format; None gives a ``--pdf`` switch."""
    p = sub.add_parser(name, help=helptext)
    p.add_argument("number", metavar="NUMBER", help=f"the {KINDS[kind][0]}'s printed number")
    if pdf is None:
        p.add_argument("--pdf", action="store_true", help="PDF instead of HTML")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write ('-': standard output; default: HTML to standard output, "
                        "PDF to NUMBER.pdf)")
    p.add_argument("--org")

    def run(args: argparse.Namespace) -> int:
        return write_document(args, kind, bool(args.pdf) if pdf is None else pdf)
    p.set_defaults(fn=run)


def add_invoice_commands(invoice_sub: Any) -> None:
    """``aaad invoice pdf|html NUMBER [-o FILE]`` on the ``invoice`` group's sub-parsers."""
    _add(invoice_sub, "pdf", "invoice", True, "an invoice as PDF")
    _add(invoice_sub, "html", "invoice", False, "an invoice as HTML")


def add_credit_note_commands(cn_sub: Any) -> None:
    """``aaad credit-note pdf|html NUMBER [-o FILE]`` on the ``credit-note`` group's sub-parsers."""
    _add(cn_sub, "pdf", "credit-note", True, "a credit note as PDF")
    _add(cn_sub, "html", "credit-note", False, "a credit note as HTML")


def add_payment_commands(payment_sub: Any) -> None:
    """``aaad payment receipt RECEIPT_NUMBER [--pdf] [-o FILE]`` on the ``payment`` group's sub-parsers."""
    _add(payment_sub, "receipt", "receipt", None, "a payment's receipt (HTML, or PDF with --pdf)")


def register(sub: Any) -> None:
    """``aaad document invoice|credit-note|receipt NUMBER [--pdf] [-o FILE]``."""
    d = sub.add_parser("document", help="an invoice, credit note or payment receipt as HTML or PDF")
    dsub = d.add_subparsers(dest="sub", metavar="KIND", required=True)
    _add(dsub, "invoice", "invoice", None, "an invoice")
    _add(dsub, "credit-note", "credit-note", None, "a credit note")
    _add(dsub, "receipt", "receipt", None, "a payment's receipt, by its receipt number")
