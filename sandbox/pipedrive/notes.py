"""Notes (API v1 `/notes`, the only version): what the app writes on a person for F15.

`content` is HTML and required; `person_id` must be a live person of the company;
`add_time` is optional, `YYYY-MM-DD HH:MM:SS` in UTC, and may lie in the past."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.gate import Gate
from sandbox.pipedrive.helpers import fail, int_param, json_body, utcnow
from sandbox.pipedrive.model import Auth

ADD_TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
MAX_CONTENT = 100_000


class Notes:
    """Notes on persons, kept per company; `notes_of(person_id)` for tests and the UI."""

    def __init__(self, core: SimCore, gate: Gate) -> None:
        self.core = core
        self.gate = gate
        self.notes = core.notes

    def routes(self) -> list[BaseRoute]:
        api = self.gate._api
        return [
            Route("/api/v1/notes", api(self._add), methods=["POST"]),
            Route("/api/v1/notes", api(self._list), methods=["GET"]),
        ]

    def notes_of(self, person_id: int) -> list[dict[str, Any]]:
        with self.core.lock:
            return [n for n in self.notes.values() if n["person_id"] == person_id]

    async def _add(self, request: Request, auth: Auth) -> Response:
        body = await json_body(request)
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise fail(400, "Validation failed: content: required")
        if len(content) > MAX_CONTENT:
            raise fail(400, "Validation failed: content: too long")
        pid = body.get("person_id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise fail(400, "Validation failed: person_id: must be an integer")
        add_time = body.get("add_time")
        if add_time is not None and not (isinstance(add_time, str) and ADD_TIME.match(add_time)):
            raise fail(400, "Validation failed: add_time: must be YYYY-MM-DD HH:MM:SS")
        with self.core.lock:
            person = self.core.persons.get(pid)
            if person is None or person["company_id"] != auth.company_id:
                raise fail(404, "Person not found")
            if person.get("is_deleted") or person.get("deleted"):
                raise fail(410, "Person is deleted")
            note_id = max(self.notes, default=0) + 1
            now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
            note: dict[str, Any] = {
                "id": note_id,
                "company_id": auth.company_id,
                "user_id": auth.user_id,
                "person_id": pid,
                "content": content,
                "pinned_to_person_flag": bool(body.get("pinned_to_person_flag")),
                "add_time": add_time or now,
                "update_time": now,
            }
            self.notes[note_id] = note
        return JSONResponse({"success": True, "data": note}, status_code=201)

    async def _list(self, request: Request, auth: Auth) -> Response:
        person_id = int_param(request.query_params.get("person_id"), "person_id", 0)
        with self.core.lock:
            rows = [
                n
                for n in self.notes.values()
                if n["company_id"] == auth.company_id
                and (not person_id or n["person_id"] == person_id)
            ]
        return JSONResponse({"success": True, "data": rows})
