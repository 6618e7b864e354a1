"""The ``hearth`` command. Bad configuration ends in one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from aiohttp import web

from certs.tls import CertError, check_cert, make_dev_certs, server_ssl_context
from media.errors import MediaError
from media.selftest import check_internals
from server.accounts import AccountError, Accounts
from server.app import create_app
from server.config import ConfigError, Settings, load_settings
from server.keys import load_keys
from server.logs import setup_logging
from server.wiring import create_store

log = logging.getLogger("hearth.cli")


class CliError(Exception):
    """Shown to the operator as ``hearth: <message>`` with exit status 2."""


def _dev_cert_dir(settings: Settings) -> str:
    return str(settings.data_dir / "certs")


def _ensure_tls(settings: Settings) -> None:
    """Dev: create a certificate when the default one is missing. Always: refuse expired."""
    defaults = settings.tls_cert is None and settings.tls_key is None
    if (
        settings.mode == "development"
        and defaults
        and not (settings.cert_path.exists() and settings.key_path.exists())
    ):
        made = make_dev_certs(settings.data_dir / "certs", [_public_host(settings)])
        print(f"Created a development certificate. Trust this CA in your browser: {made.ca_cert}")
    status = check_cert(settings.cert_path, settings.key_path)
    if status.expiring_soon:
        log.warning(
            "TLS certificate expires soon", extra={"days_left": int(status.days_left)}
        )


def _public_host(settings: Settings) -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.public_url).hostname or "localhost"


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    setup_logging(settings.log_level)
    try:  # the relay relies on aiortc/aioice internals: refuse to start if they moved
        check_internals()
    except MediaError as exc:
        raise CliError(str(exc)) from exc
    ssl_ctx = None
    if settings.tls:
        _ensure_tls(settings)
        ssl_ctx = server_ssl_context(settings.cert_path, settings.key_path)
    app = create_app(settings)
    scheme = "https" if settings.tls else "http"
    print(f"Hearth is serving on {scheme}://{settings.host}:{settings.port} "
          f"(public URL {settings.public_url})", flush=True)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_ctx,
        shutdown_timeout=float(settings.shutdown_grace_seconds),
        print=None,
        access_log=None,
        handle_signals=True,
    )


def cmd_certs_dev(settings: Settings, args: argparse.Namespace) -> None:
    made = make_dev_certs(settings.data_dir / "certs", [_public_host(settings), *args.host])
    print(f"certificate: {made.cert}\nkey:         {made.key}")
    print(f"Trust this CA in your browser or OS to avoid warnings: {made.ca_cert}")


def cmd_therapist_add(settings: Settings, args: argparse.Namespace) -> None:
    if args.password_file:
        password = open(args.password_file).read().strip()  # noqa: SIM115
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (12+ characters): ")
    else:
        password = sys.stdin.readline().strip()

    async def run() -> str:
        store = create_store(settings)
        try:
            return (await Accounts(store).create(args.username, password)).id
        finally:
            await store.close()

    try:
        account_id = asyncio.run(run())
    except AccountError as exc:
        raise CliError(str(exc)) from exc
    print(f"therapist account created (id {account_id})")


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> None:
    load_keys(settings)
    if settings.tls and (settings.tls_cert or settings.mode == "production"):
        check_cert(settings.cert_path, settings.key_path)
    store = "redis" if settings.redis_url else f"sqlite in {settings.data_dir}"
    print(f"configuration OK: mode={settings.mode} listen={settings.host}:{settings.port} "
          f"public_url={settings.public_url} store={store}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth video sessions")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.set_defaults(func=cmd_serve)
    certs = sub.add_parser("certs", help="TLS certificates").add_subparsers(
        dest="certs_command", required=True
    )
    dev = certs.add_parser("dev", help="make a local CA and a server certificate")
    dev.add_argument("--host", action="append", default=[], help="extra host name or IP")
    dev.set_defaults(func=cmd_certs_dev)
    therapist = sub.add_parser("therapist", help="therapist accounts").add_subparsers(
        dest="therapist_command", required=True
    )
    add = therapist.add_parser("add", help="create a therapist account")
    add.add_argument("username")
    add.add_argument("--password-file", help="read the password from this file")
    add.set_defaults(func=cmd_therapist_add)
    check = sub.add_parser("check-config", help="validate the configuration and exit")
    check.set_defaults(func=cmd_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        args.func(settings, args)
    except (ConfigError, CertError, CliError) as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
