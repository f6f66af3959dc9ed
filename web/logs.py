"""Structured logging: one JSON object a line when LOG_FORMAT=json, with the request id."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import re
import secrets
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_PROCESS_PREFIX = secrets.token_hex(4)
_request_numbers = itertools.count(1)


def new_request_id() -> str:
    """16 hex digits, unique per request: a random prefix per process and a counter. It only
    ties log lines to a request (no secret), so no system call for randomness per request."""
    return f"{_PROCESS_PREFIX}{next(_request_numbers) & 0xFFFFFFFF:08x}"


SECRETISH = re.compile(r"(token|password|secret|api_key|authorization)=([^&\s]+)", re.I)


def redact(text: str) -> str:
    if "=" not in text:  # the common case (every access line): nothing to look for
        return text
    return SECRETISH.sub(r"\1=[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if request_id.get():
            entry["request_id"] = request_id.get()
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


# Every control character (and Unicode's line breaks) as a visible escape: a value from outside
# (a path, a person's name) can never start a line of its own in the plain log.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(32), 0x7F, 0x85)}
_CONTROLS.update(
    {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}
)


def escape_controls(text: str) -> str:
    return text.translate(_CONTROLS)


class PlainFormatter(logging.Formatter):
    """`level logger [request id]: message`, one line; a traceback follows on lines that start
    with `  | ` (so no line of it can pass for a log entry)."""

    def format(self, record: logging.LogRecord) -> str:
        rid = f" [{request_id.get()}]" if request_id.get() else ""
        line = (
            f"{record.levelname.lower()} {record.name}{rid}: {escape_controls(record.getMessage())}"
        )
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join(f"\n  | {escape_controls(part)}" for part in block.splitlines())
        return redact(line)


def configure(json_lines: bool) -> None:
    """The app's loggers and uvicorn's share one handler, so every line has the same format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    for name in ("pipedrive_maileon", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # RequestContext logs each request
    # No formatter here shows them; each access line would collect them (issue 14).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
