"""End to end: the web root of the real daemon over real HTTP on loopback."""
from __future__ import annotations

import http.client
import json
from pathlib import Path

from tests.conftest import Daemon, DaemonFactory


def test_every_part_of_the_web_root_answers(daemon: Daemon) -> None:
    """/, /healthz, /metrics, /api/v1/, the suspension page and a static file, each with its type."""
    code, body = daemon.get("/")
    assert code == 200 and "aaad" in body and '<a href="demo/portal/">Demo ISP</a>' in body
    code, body = daemon.get("/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    code, body = daemon.get("/metrics")
    assert code == 200 and "aaad_uptime_seconds" in body
    code, body = daemon.get("/api/v1/")
    assert code == 200 and json.loads(body)["api_version"] == "v1"
    code, body = daemon.get("/demo/portal/suspended?reason=unpaid")
    assert code == 200 and "Demo ISP" in body and "unpaid balance" in body
    code, body = daemon.get("/static/aaad.css")
    assert code == 200 and "body" in body


def test_errors_are_json_in_the_api_and_html_elsewhere(daemon: Daemon) -> None:
    """Unknown API paths are JSON 404s; an unknown org's portal and unknown paths are HTML 404s."""
    code, body = daemon.get("/api/v1/nothing")
    assert code == 404 and json.loads(body)["error"]["code"] == "not_found"
    for path in ("/no-such-org/portal/suspended", "/nothing"):
        code, body = daemon.get(path)
        assert code == 404 and body.startswith("<!doctype html>") and "Traceback" not in body


def test_portal_of_one_org_never_shows_another(daemon: Daemon) -> None:
    """With two orgs, each one's suspension page names only itself; the landing page lists both."""
    daemon.cli("org", "add", "other", "--name", "Other Net")
    _, demo = daemon.get("/demo/portal/suspended")
    _, other = daemon.get("/other/portal/suspended")
    assert "Demo ISP" in demo and "Other Net" not in demo
    assert "Other Net" in other and "Demo ISP" not in other
    _, landing = daemon.get("/")
    assert 'href="other/portal/"' in landing and 'href="demo/portal/"' in landing


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aaad test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_serves_the_api_over_https_only(daemon_factory: DaemonFactory, tmp_path: Path) -> None:
    """With [web] tls_cert and tls_key the API answers over HTTPS (certificate checked against the file);
    plain HTTP on that port gets no answer."""
    import ssl
    import urllib.error
    import urllib.request
    cert, key = _self_signed(tmp_path)
    d = daemon_factory(extra=f'[web]\ntls_cert = "{cert}"\ntls_key = "{key}"', demo=False)
    ctx = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://127.0.0.1:{d.web_port}/api/v1/", context=ctx, timeout=10) as r:
        assert r.status == 200 and json.loads(r.read())["api_version"] == "v1"
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{d.web_port}/api/v1/", timeout=10)
        raise AssertionError("plain HTTP was answered")
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
        pass
