"""`pipedrive-maileon serve` (the real service), `pipedrive-maileon demo` (the sandbox) and
`pipedrive-maileon check` (read-only probes of a real Maileon account)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import uvicorn

from web.config import ConfigError, from_env, load_dotenv


def serve(args: argparse.Namespace) -> int:
    load_dotenv()
    try:
        config = from_env()
    except ConfigError as exc:
        print(f"pipedrive-maileon: configuration error: {exc}", file=sys.stderr)
        return 2
    from web.app import create_app
    from web.logs import configure as configure_logging

    configure_logging(config.log_json)
    uvicorn.run(create_app(config), host=args.host, port=args.port or config.port,
                proxy_headers=True, forwarded_allow_ips="*", log_config=None,
                access_log=False)
    return 0


def demo(args: argparse.Namespace) -> int:
    """App + simulated Pipedrive + simulated Maileon on loopback, with throwaway secrets."""
    from web.demo import run_demo

    return run_demo(port=args.port or 8000, database=args.database
                    or os.path.join(tempfile.mkdtemp(prefix="pm-demo-"), "demo.db"))


def check(args: argparse.Namespace) -> int:
    """Probe the Maileon account of MAILEON_API_KEY (or a prompted key) read-only."""
    import asyncio
    import getpass

    from clients.check import check as run_check

    load_dotenv()
    key = os.environ.get("MAILEON_API_KEY", "").strip() or getpass.getpass("Maileon API key: ")
    if not key.strip():
        print("pipedrive-maileon: no Maileon API key given", file=sys.stderr)
        return 2
    base = os.environ.get("MAILEON_API_URL", "").strip() or "https://api.maileon.com/1.0"
    lines, status = asyncio.run(run_check(base, key.strip()))
    print("\n".join(lines))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pipedrive-maileon",
        description="Pipedrive → Maileon sync app. Commands: serve (the service), demo (sandbox), "
        "check (probe a Maileon account)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the service (configuration from the environment)")
    p_serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server behind a proxy
    p_serve.add_argument("--port", type=int, default=0, help="default: $PORT or 8000")
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run the app with simulated Pipedrive and Maileon")
    p_demo.add_argument("--port", type=int, default=0, help="app port (default 8000); the "
                        "simulators use the next two ports")
    p_demo.add_argument("--database", default="", help="SQLite file (default: a temp file)")
    p_demo.set_defaults(func=demo)
    p_check = sub.add_parser("check", help="probe a Maileon account read-only (key from "
                             "MAILEON_API_KEY or a prompt)")
    p_check.set_defaults(func=check)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())


