"""The codec's two implementations: a fixture that runs a test module with each.

``pytestmark = pytest.mark.usefixtures("codec_impl")`` in a test module runs its
tests twice: with aaad.radius.codec's public functions bound to the C extension
(``_speedups``), then to the pure-Python functions.  Names the module imported
from codec (``from aaad.radius.codec import decode``) are rebound too.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aaad.radius import codec

CODEC_FUNCTIONS = tuple(codec._PY_FUNCTIONS)


def implementation(name: str) -> dict[str, Callable[..., Any]]:
    """The codec functions of one implementation, "c" or "python", by public name."""
    if name == "python":
        return dict(codec._PY_FUNCTIONS)
    if codec._speedups is None:
        pytest.skip("the C extension aaad.radius._speedups is not built (test_speedups.py fails for that)")
    return {n: getattr(codec._speedups, n) for n in CODEC_FUNCTIONS}


@pytest.fixture(scope="module", params=["c", "python"])
def codec_impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Bind codec's public functions (and the test module's copies of them) to one implementation."""
    table = implementation(request.param)
    known = {id(f) for f in codec._PY_FUNCTIONS.values()}
    if codec._speedups is not None:
        known |= {id(getattr(codec._speedups, n)) for n in CODEC_FUNCTIONS}
    with pytest.MonkeyPatch.context() as mp:
        for name, fn in table.items():
            mp.setattr(codec, name, fn)
            if id(getattr(request.module, name, None)) in known:
                mp.setattr(request.module, name, fn)
        yield request.param
