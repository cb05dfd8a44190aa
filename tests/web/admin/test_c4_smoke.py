import re
from typing import Any
def test_smoke(console_as: Any) -> None:
    b = console_as("owner")
    r = b.get("/admin/registrations")
    m = re.search(r'registrations/(\d+)"', r.text)
    print(r.text.split("<main>")[1])
    for p in (f"/admin/registrations/{m.group(1)}", ):
        r = b.get(p); print(p, r.code, r.text.split("<main>")[1])
    r = b.get("/admin/orders"); oid = re.search(r'orders/(\d+)"', r.text).group(1)
    r = b.get(f"/admin/orders/{oid}"); print(r.code, r.text.split("<main>")[1])
    r = b.get("/admin/tickets"); tid = re.search(r'tickets/(\d+)"', r.text).group(1)
    r = b.get(f"/admin/tickets/{tid}"); print(r.code, r.text.split("<main>")[1][:1500])
    r = b.get("/admin/vouchers/batches"); bid = re.search(r'batches/(\d+)"', r.text).group(1)
    r = b.get(f"/admin/vouchers/batches/{bid}"); print(r.code, r.text.split("<main>")[1][:2500])
    r = b.get(f"/admin/vouchers/batches/{bid}.pdf"); print(r.code, r.header("Content-Type"), r.body[:5])
    assert 0
