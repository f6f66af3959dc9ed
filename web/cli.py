"""`pipedrive-maileon serve` (the real service) and `pipedrive-maileon demo` (the sandbox)."""

from __future__ import annotations

import argparse
import sys

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

    return run_demo(port=args.port or 8000, database=args.database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pipedrive-maileon",
        description="Pipedrive → Maileon sync app. Commands: serve (the service), demo (sandbox)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the service (configuration from the environment)")
    p_serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server behind a proxy
    p_serve.add_argument("--port", type=int, default=0, help="default: $PORT or 8000")
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run the app with simulated Pipedrive and Maileon")
    p_demo.add_argument("--port", type=int, default=0, help="app port (default 8000); the "
                        "simulators use the next two ports")
    p_demo.add_argument("--database", default="", help="SQLite file, kept (default: a "
                        "temporary one, removed on exit)")
    p_demo.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())


