"""`pipedrive-maileon serve` (the real service), `demo` (the sandbox), `check` (read-only
probes of a real Maileon account), and the operations commands `migrate` (the Procfile's release
step), `backup` and `restore`."""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
from typing import Any

import uvicorn

from appconfig import Config, ConfigError, check_encryption_key, from_env, load_dotenv

# In-flight HTTP requests get this long after SIGTERM; then the worker's own grace
# (sync/engine/worker.py STOP_GRACE) — together well inside a platform's ~30 s.
HTTP_DRAIN_SECONDS = 5

# Bounded server resources (issue #13). Slow clients (slowloris, slow uploads) are the HTTPS
# proxy's job: uvicorn has no header or body read timeout, so it must run behind one.
SERVER_LIMITS: dict[str, Any] = {
    "timeout_keep_alive": 5,  # seconds an idle keep-alive connection stays open
    "timeout_graceful_shutdown": HTTP_DRAIN_SECONDS,  # seconds shutdown waits for requests
    "h11_max_incomplete_event_size": 16 * 1024,  # request line + headers
}


def _configuration() -> Config | None:
    """The configuration from the environment (and .env), or None after one line on stderr."""
    load_dotenv()
    try:
        return from_env()
    except ConfigError as exc:
        print(f"pipedrive-maileon: configuration error: {exc}", file=sys.stderr)
        return None


def serve(args: argparse.Namespace) -> int:
    config = _configuration()
    if config is None:
        return 2
    from web.app import create_app
    from web.logs import configure as configure_logging

    lock = _hold_instance_lock(config.database_path)  # held until the process exits
    if lock is False:
        return 1
    failed = _open_database(config)
    if failed:
        return failed
    configure_logging(config.log_json)
    _exit_cleanly_on_sigterm()
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port or config.port,
        proxy_headers=False,  # web/proxies.py applies them, from TRUSTED_PROXIES only
        log_config=None,
        access_log=False,
        **SERVER_LIMITS,
    )
    return 0


def _hold_instance_lock(database_path: str) -> object:
    """The database's instance lock (kept for the life of the process), or False after one
    line on stderr when another process runs on the same database."""
    from store.instance import AlreadyRunning, hold

    try:
        return hold(database_path)
    except AlreadyRunning as exc:
        print(f"pipedrive-maileon: {exc}", file=sys.stderr)
    except OSError as exc:
        print(
            f"pipedrive-maileon: cannot lock {database_path}: {exc.strerror} (check "
            "DATABASE_PATH and that its folder is writable)",
            file=sys.stderr,
        )
    return False


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler it
    found; with Python's default that kills the process (exit -15). A graceful stop is a
    success: this handler ends the process with 0 (and stops one still starting up)."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def migrate(args: argparse.Namespace) -> int:
    """The release step: check the configuration and the built assets, apply migrations."""
    config = _configuration()
    if config is None:
        return 2
    from web.templating import STATIC_DIR, missing_vendor_files

    missing = missing_vendor_files()
    if missing:
        print(
            f"pipedrive-maileon: front-end files missing in {STATIC_DIR / 'vendor'}: "
            f"{', '.join(missing)}; run `npm ci && npm run build` before installing",
            file=sys.stderr,
        )
        return 1
    failed = _open_database(config)
    if failed:
        return failed
    print(f"pipedrive-maileon: configuration ok; database {config.database_path} migrated")
    return 0


def _open_database(config: Config) -> int:
    """Migrate the database and check that ENCRYPTION_KEY reads its secrets: 0, or the exit
    code after one line on stderr."""
    try:
        check_encryption_key(config)
    except ConfigError as exc:
        print(f"pipedrive-maileon: configuration error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(
            f"pipedrive-maileon: cannot open the database {config.database_path}: {exc} "
            "(check DATABASE_PATH and that its folder is writable)",
            file=sys.stderr,
        )
        return 1
    return 0


def _database_path(args: argparse.Namespace) -> str:
    load_dotenv()
    return str(args.database or os.environ.get("DATABASE_PATH", "").strip() or "data/app.db")


def backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database while the app runs."""
    from store.backup import BackupError
    from store.backup import backup as backup_database

    database = _database_path(args)
    try:
        target = backup_database(database, args.path)
    except BackupError as exc:
        print(f"pipedrive-maileon: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"pipedrive-maileon: backup of {database} written to {target}")
    return 0


def restore(args: argparse.Namespace) -> int:
    """Replace the database with a backup (the app must be stopped)."""
    from store.backup import BackupError
    from store.backup import restore as restore_database

    database = _database_path(args)
    try:
        restore_database(args.path, database)
    except BackupError as exc:
        print(f"pipedrive-maileon: restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"pipedrive-maileon: {database} restored from {args.path}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """App + simulated Pipedrive + simulated Maileon on loopback, with throwaway secrets."""
    from web.demo import run_demo

    return run_demo(port=args.port or 8000, database=args.database)


def _add_operations_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_migrate = sub.add_parser(
        "migrate",
        help="check the configuration and the front-end files, "
        "apply database migrations (the Procfile's release step)",
    )
    p_migrate.set_defaults(func=migrate)
    database_help = "SQLite file (default: $DATABASE_PATH or data/app.db)"
    p_backup = sub.add_parser(
        "backup", help="write a consistent copy of the database to PATH (safe while the app runs)"
    )
    p_backup.add_argument("path", metavar="PATH")
    p_backup.add_argument("--database", default="", help=database_help)
    p_backup.set_defaults(func=backup)
    p_restore = sub.add_parser(
        "restore", help="replace the database with the backup at PATH (stop the app first)"
    )
    p_restore.add_argument("path", metavar="PATH")
    p_restore.add_argument("--database", default="", help=database_help)
    p_restore.set_defaults(func=restore)


def check(args: argparse.Namespace) -> int:
    """Probe the Maileon account of MAILEON_API_KEY (or a prompted key): read-only, or with
    `--write` also on throwaway names it deletes afterwards."""
    import asyncio
    import getpass

    from clients.check import check as run_check

    load_dotenv()
    key = os.environ.get("MAILEON_API_KEY", "").strip() or getpass.getpass("Maileon API key: ")
    if not key.strip():
        print("pipedrive-maileon: no Maileon API key given", file=sys.stderr)
        return 2
    base = os.environ.get("MAILEON_API_URL", "").strip() or "https://api.maileon.com/1.0"
    lines, status = asyncio.run(run_check(base, key.strip(), write=args.write))
    print("\n".join(lines))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pipedrive-maileon",
        description="Pipedrive → Maileon sync app. Commands: serve (the service), demo (sandbox), "
        "migrate, backup, restore, check (probe a Maileon account)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the service (configuration from the environment)")
    p_serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server behind a proxy
    p_serve.add_argument("--port", type=int, default=0, help="default: $PORT or 8000")
    p_serve.set_defaults(func=serve)
    p_demo = sub.add_parser("demo", help="run the app with simulated Pipedrive and Maileon")
    p_demo.add_argument(
        "--port",
        type=int,
        default=0,
        help="app port (default 8000); the simulators use the next two ports",
    )
    p_demo.add_argument(
        "--database",
        default="",
        help="SQLite file, kept (default: a temporary one, removed on exit)",
    )
    p_demo.set_defaults(func=demo)
    _add_operations_commands(sub)
    p_check = sub.add_parser(
        "check", help="probe a Maileon account read-only (key from MAILEON_API_KEY or a prompt)"
    )
    p_check.add_argument(
        "--write",
        action="store_true",
        help="also write on a throwaway address, field, type and webhook, then delete them",
    )
    p_check.set_defaults(func=check)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
