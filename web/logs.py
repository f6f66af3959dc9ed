"""Structured logging: one JSON object a line when LOG_FORMAT=json, with the request id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
SECRETISH = re.compile(r"(token|password|secret|api_key|authorization)=([^&\s]+)", re.I)


def redact(text: str) -> str:
    if "=" not in text:  # the common case (every access line): nothing to look for
        return text
    return SECRETISH.sub(r"\1=[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": redact(record.getMessage())}
        if request_id.get():
            entry["request_id"] = request_id.get()
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = f" [{request_id.get()}]" if request_id.get() else ""
        return redact(f"{record.levelname.lower()} {record.name}{rid}: "
                      + super().format(record))


def configure(json_lines: bool) -> None:
    """The app's loggers and uvicorn's share one handler, so every line has the same format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter("%(message)s"))
    for name in ("pipedrive_maileon", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # RequestContext logs each request
    # No formatter here shows them; each access line would collect them (issue 14).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
