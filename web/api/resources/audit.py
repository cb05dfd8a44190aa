"""/audit: every write made through the API (who, what, before and after)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aaad import paging
from web import apistore
from web.api.declare import Call, Id, ListQuery, Out, Page, Router
from web.schema import audit

router = Router("audit", "The audit log of API writes")


class AuditOut(Out):
    id: int
    at: datetime
    token_id: int
    token_name: str
    method: str
    route: str = Field(description="The route's template, e.g. /customers/{customer_id}.")
    target: str = Field(description="What was written, e.g. 'customer 12'.")
    before: Any = Field(description="A summary of the object before (null for a creation).")
    after: Any = Field(description="A summary of the result.")


class AuditQuery(ListQuery):
    token_id: Id | None = None
    target: str | None = Field(None, max_length=200, description="Only entries about this object.")
    sort: Literal["-id", "id"] = "-id"


@router.get("/audit", summary="List the audit log")
async def list_audit(call: Call, query: AuditQuery) -> Page[AuditOut]:
    """The org's audit entries, newest first."""
    def run(conn: Any) -> paging.Page[apistore.AuditEntry]:
        return paging.page(conn, apistore.audit_query(call.org_id, query.token_id, query.target), sort=query.sort,
                           columns={"id": audit.c.id}, id_col=audit.c.id, cursor=query.cursor, limit=query.limit,
                           row=apistore.audit_row)
    p = await call.read(run)
    return Page[AuditOut](items=[AuditOut.model_validate(e) for e in p.items], next_cursor=p.next_cursor)
