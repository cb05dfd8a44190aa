"""[web] public_url and the public addresses built from it (aaad.urls)."""
from __future__ import annotations

import pytest

from aaad import app, config, urls
from aaad.config import ConfigErrors, WebConfig


def load_web(value: str) -> WebConfig:
    return app.load_config(None, {"AAAD_WEB__PUBLIC_URL": f'"{value}"'}).web


@pytest.mark.parametrize("value", ["http://10.0.0.1:8080", "https://portal.example.net/",
                                   "https://isp.example/aaad", "http://[2001:db8::1]:8080/x"])
def test_public_url_accepts_http_urls(value: str) -> None:
    """An http(s) URL with a host, a port and a path prefix is accepted as given."""
    assert load_web(value).public_url == value


@pytest.mark.parametrize("value, says", [
    ("ftp://example.net", "not an http:// or https:// URL"),
    ("portal.example.net", "not an http:// or https:// URL"),
    ("https://", "not an http:// or https:// URL"),
    ("https://example.net/?a=1", "must not have a query"),
    ("https://example.net/#top", "must not have a query"),
    ("https://example.net:99999/", "bad port"),
])
def test_public_url_refuses_other_values(value: str, says: str) -> None:
    """Anything but an absolute http(s) URL without query or fragment is a config error naming the key."""
    with pytest.raises(ConfigErrors) as e:
        load_web(value)
    (err,) = e.value.errors
    assert err.path == "web.public_url" and says in err.message


def test_public_url_is_documented() -> None:
    """The key appears in the generated documentation."""
    assert "#public_url = \"\"" in config.document(app.schema())


def test_effective_public_url() -> None:
    """Set: as given without a trailing slash; empty: derived from the listener's address and port."""
    assert urls.public_url(WebConfig(public_url="https://isp.example/aaad/")) == "https://isp.example/aaad"
    assert urls.public_url(WebConfig(address="10.1.2.3", port=8080)) == "http://10.1.2.3:8080"
    assert urls.public_url(WebConfig(address="0.0.0.0", port=0), bound_port=41000) == "http://127.0.0.1:41000"
    assert urls.public_url(WebConfig(address="::", port=80)) == "http://[::1]:80"
    assert urls.local_url(WebConfig(address="0.0.0.0", port=80, public_url="https://x.example")) == "http://127.0.0.1:80"


def test_suspension_url() -> None:
    """The walled garden's target: the org's fixed suspension page, with a known reason code."""
    base = "https://isp.example/aaad"
    assert urls.suspension_url(base, "demo") == "https://isp.example/aaad/demo/portal/suspended"
    assert urls.suspension_url(base + "/", "demo", "unpaid") == \
        "https://isp.example/aaad/demo/portal/suspended?reason=unpaid"
    assert urls.portal_url(base, "demo") == "https://isp.example/aaad/demo/portal/"
    with pytest.raises(ValueError):
        urls.suspension_url(base, "demo", "call us at 555")
