"""An org's MikroTik hotspot login pages (the router's ``hotspot`` HTML directory), in its branding.

RouterOS serves these pages itself to devices not yet logged in, filling in its own variables
(``$(link-login-only)``, ``$(chap-id)``, ``$(error)``, ``$(if trial == 'yes')`` ...) each time;
aaad renders them once per org with Jinja2 (name, logo, colour, the portal's links) and RouterOS
does the rest.  The files (:data:`aaad.urls.HOTSPOT_FILES`):

    login.html     the voucher code (or username) and password; HTTP-CHAP when the router offers it
                   (the password never leaves the device: hexMD5(chap-id + password + chap-challenge)
                   by md5.js), else plain (PAP).  ``login?username=CODE`` fills the code in;
                   ``&password=PW``, or ``&codeonly=1`` for a code-only voucher (the password is the
                   code), logs in by itself.  An empty password is taken as the code (code-only
                   vouchers).  "Register" and "Buy a voucher" link to the org's portal, "Free trial"
                   shows where the org has aaad's free trial (``aaad trial set``): it logs in as
                   ``T-<the device's MAC>`` with that as its password, through RADIUS (keep the
                   router's own trial off; render the pages again after turning the trial on or off).
    alogin.html    after a login: a moment, then on to the page first asked for
    status.html    who is logged in, time and data used and left, log out
    logout.html    after logging out: the session's summary, log in again
    error.html     the router's own errors
    redirect.html, rlogin.html
                   the router's redirects (HTTP 302 with the login page's Location)
    md5.js         MD5 for the CHAP login (written out, no download)

Text that comes from the operator (the brand's name) is HTML-escaped and its ``$`` written as
``&#36;``, so RouterOS never reads it as one of its variables.  The portal's host must be in the
router's walled garden for the links to work before login (:func:`walled_garden_hosts`; ``aaad nas
provision --hotspot`` adds it).
"""
from __future__ import annotations

import io
import urllib.parse
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from aaad import orgs, trial
from aaad.errors import NotFound
from aaad.urls import HOTSPOT_FILES, hotspot_file_url, portal_url
from billing import settings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "hotspot"
DEFAULT_COLOUR = "#1f4e79"
#: Files copied as they are (not Jinja templates).
VERBATIM = frozenset({"md5.js"})
#: A zip's entries all carry this time, so the same pages give the same bytes.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class HotspotBrand:
    """What the pages show of the org: plain data, read by :func:`brand_of`."""
    slug: str
    name: str
    colour: str                 # #rrggbb
    logo: str | None            # a data: URL or an absolute http(s) URL
    public_url: str             # ``[web] public_url``, without a trailing slash
    trial_minutes: int | None = None  # the org's free trial (aaad.trial), if any

    @property
    def portal(self) -> str:
        return portal_url(self.public_url, self.slug)

    @property
    def register(self) -> str:
        return portal_url(self.public_url, self.slug, "register")

    @property
    def vouchers(self) -> str:
        return portal_url(self.public_url, self.slug, "vouchers")


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (#rrggbb), by WCAG contrast."""
    def channel(h: str) -> float:
        c = int(h, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(background[i:i + 2]) for i in (1, 3, 5))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def brand_of(conn: Connection, org_id: int, public_url: str) -> HotspotBrand:
    """The org's branding for its hotspot pages (billing settings, else the org's name).  A logo
    that is a path on aaad's web server becomes a URL under ``public_url``.  NotFound: no org."""
    org = orgs.get(conn, org_id)
    if org is None:
        raise NotFound("org", org_id)
    st = settings.get(conn, org_id)
    base = public_url.rstrip("/")
    logo = st.brand_logo
    if logo and logo.startswith("/"):
        logo = base + logo
    elif logo and not logo.startswith(("data:image/", "https://", "http://")):
        logo = None
    return HotspotBrand(org.slug, st.brand_name or org.name, st.brand_colour or DEFAULT_COLOUR, logo, base,
                        trial.trial_minutes(conn, org_id))


def _routeros_safe(value: Any) -> Markup:
    """Jinja's finalize: every value HTML-escaped, and a ``$`` written so RouterOS cannot take it
    for one of its ``$(...)`` variables."""
    if isinstance(value, Markup):
        return value
    return Markup(str(escape("" if value is None else value)).replace("$", "&#36;"))


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, finalize=_routeros_safe,
                       keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render(brand: HotspotBrand) -> dict[str, bytes]:
    """Every file of the bundle by name (:data:`aaad.urls.HOTSPOT_FILES`, in that order)."""
    env = _env()
    out: dict[str, bytes] = {}
    for name in HOTSPOT_FILES:
        if name in VERBATIM:
            out[name] = (TEMPLATES / name).read_bytes()
            continue
        out[name] = env.get_template(name).render(b=brand, on_accent=text_colour(brand.colour)).encode("utf-8")
    return out


def bundle(conn: Connection, org_id: int, public_url: str) -> dict[str, bytes]:
    """The org's hotspot pages (:func:`render` of :func:`brand_of`)."""
    return render(brand_of(conn, org_id, public_url))


def file_of(conn: Connection, slug: str, name: str, public_url: str) -> bytes:
    """One file of the bundle of the org ``slug`` (what the router fetches).  NotFound: no such org
    or file."""
    if name not in HOTSPOT_FILES:
        raise NotFound("file", name)
    org = orgs.get_by_slug(conn, slug)
    if org is None:
        raise NotFound("org", slug)
    return bundle(conn, org.id, public_url)[name]


def zip_bytes(files: dict[str, bytes], folder: str = "hotspot") -> bytes:
    """The files as a zip under ``folder/`` (fixed times: the same files give the same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}" if folder else name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def write(files: dict[str, bytes], directory: Path) -> list[Path]:
    """Write the files into ``directory`` (created if missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def walled_garden_hosts(public_url: str) -> list[str]:
    """The hosts a device must reach before logging in for the pages' links to work: the portal's."""
    host = urllib.parse.urlsplit(public_url).hostname
    return [host] if host else []


@dataclass(frozen=True)
class BundleFile:
    name: str
    size: int
    url: str                    # where a router fetches it (the portal's hotspot route)


@dataclass(frozen=True)
class Manifest:
    """The bundle's files with their public URLs, and the walled-garden hosts the pages need."""
    files: list[BundleFile]
    walled_garden: list[str]


def manifest(conn: Connection, org_id: int, public_url: str) -> Manifest:
    """What a router needs to install the org's pages: each file's URL under ``public_url`` (and
    size), and the hosts to let through before login.  NotFound: no org."""
    b = brand_of(conn, org_id, public_url)
    files = render(b)
    return Manifest([BundleFile(n, len(data), hotspot_file_url(b.public_url, b.slug, n)) for n, data in files.items()],
                    walled_garden_hosts(b.public_url))
