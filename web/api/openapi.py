"""The OpenAPI 3.1 document, generated from the route declarations, and its reference page.

Nothing here is written by hand per route: each :class:`~web.api.declare.Endpoint`
gives its path, query and body models (validated by the same pydantic models
the request goes through), its response model and media type, and the errors
it can answer with.  JSON Schema 2020-12 (what pydantic emits) is OpenAPI
3.1's schema dialect, so the models' schemas go in as they are.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aaad import authz
from web.api.declare import Endpoint, Error, Raw

REF = "#/components/schemas/{model}"

_STATUS_TEXT = {200: "OK", 201: "Created", 400: "Bad request (malformed JSON, a missing X-Aaad-Org header)",
                401: "No token, or not a valid one", 403: "The token may not do this (read-only, not a "
                "platform token)", 404: "No such object in this org", 409: "Conflict (an Idempotency-Key "
                "reused with another request, or the object's state forbids it)",
                422: "Invalid input: every bad field is named", 429: "Rate limited: see Retry-After",
                500: "Internal error: the id is in the operator's log",
                503: "The daemon service this needs is not running (or did not answer in time)"}


def _error_statuses(ep: Endpoint) -> list[int]:
    codes = {400, 401, 429, 500, *ep.errors}
    if ep.path_model is not None:
        codes.add(404)
    if ep.query_model is not None or ep.body_model is not None or ep.path_model is not None:
        codes.add(422)
    if ep.write or ep.platform:
        codes.add(403)
    if ep.method == "POST":
        codes.add(409)
    if ep.scoped:
        codes.add(403)          # an org token naming another org
    return sorted(codes)


def document(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints``."""
    inputs: list[type[BaseModel]] = []
    outputs: list[Any] = [Error]
    for ep in endpoints:
        for m in (ep.path_model, ep.query_model, ep.body_model):
            if m is not None and m not in inputs:
                inputs.append(m)
        if ep.response is not None and ep.response is not Raw and ep.response not in outputs:
            outputs.append(ep.response)
    keys = [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs]
    refs, top = models_json_schema(keys, ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary, "tags": [ep.tag]}
        roles = ", ".join(r for r in authz.ROLES if r in authz.PERMISSIONS[ep.permission])
        needs = f"Needs `{ep.permission}`: roles {roles}."
        op["description"] = f"{ep.description}\n\n{needs}" if ep.description else needs
        op["x-aaad-permission"] = ep.permission
        params: list[dict[str, Any]] = []
        for where, model in (("path", ep.path_model), ("query", ep.query_model)):
            if model is None:
                continue
            schema = model.model_json_schema(ref_template=REF)
            schemas.update(schema.pop("$defs", {}))
            required = set(schema.get("required", ()))
            for name, prop in schema.get("properties", {}).items():
                p: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required,
                                     "schema": {k: v for k, v in prop.items() if k not in ("title", "description")}}
                if "description" in prop:
                    p["description"] = prop["description"]
                params.append(p)
        if ep.scoped:
            params.append({"name": "X-Aaad-Org", "in": "header", "required": False,
                           "description": "A platform token's org (its slug); org tokens leave it out.",
                           "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}})
        if ep.method == "POST":
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "A retry with the same key and body returns the first response and "
                                          "changes nothing (kept 24 h per token); another body gets 409.",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        if params:
            op["parameters"] = params
        if ep.body_model is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(ep.body_model, "validation")]}}}
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": _STATUS_TEXT.get(ep.status, "Success")}
        if ep.response is Raw:
            ok["content"] = {ep.media: {"schema": {"type": "string", "format": "binary"}
                                        if not ep.media.startswith("text/") else {"type": "string"}}}
        elif ep.response is not None:
            ok["content"] = {"application/json": {"schema": refs[(ep.response, "serialization")]}}
        responses[str(ep.status)] = ok
        for code in _error_statuses(ep):
            responses[str(code)] = {"description": _STATUS_TEXT[code], "content": {
                "application/json": {"schema": refs[(Error, "serialization")]}}}
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    tags: list[dict[str, str]] = []
    for ep in endpoints:
        if ep.tag not in [t["name"] for t in tags]:
            tags.append({"name": ep.tag})
    return {
        "openapi": "3.1.0",
        "info": {"title": "aaad admin API", "version": version,
                 "description": "Run an ISP on aaad: customers, plans, invoices, payments, logins, routers and "
                                "sessions. Authenticate with 'Authorization: Bearer TOKEN' (`aaad token "
                                "create`). Money is in integer minor units with its currency; times are "
                                "RFC 3339 UTC; ids are integers. Lists page with `cursor` (pass back "
                                "`next_cursor`)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "An API token (aaad token create)."}}},
    }


def _schema_text(schema: Any) -> str:
    return json.dumps(schema, indent=2, sort_keys=False)


def render_docs(doc: dict[str, Any]) -> bytes:
    """The reference page: every operation with its parameters, body and responses."""
    env = Environment(loader=PackageLoader("web", "templates"), autoescape=True, undefined=ChainableUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    ops: dict[str, list[dict[str, Any]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            ops.setdefault(op["tags"][0], []).append({"method": method.upper(), "path": path, **op})
    return env.get_template("api_docs.html").render(
        doc=doc, ops=ops, schema_text=_schema_text).encode("utf-8")
