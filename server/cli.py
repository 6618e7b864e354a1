"""The ``hearth`` command. Bad configuration ends in one clear line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence

from aiohttp import web

from certs.tls import CertError, check_cert, make_dev_certs, server_ssl_context
from media.errors import MediaError
from media.selftest import check_internals
from rooms.stores import StoreError
from server.accounts import AccountError, Accounts
from server.app import create_app
from server.appkeys import LIVE, RUNTIME, STORE
from server.audit import AuditLog, Problem
from server.composition import create_store
from server.config import ConfigError, Settings, load_settings
from server.keys import load_keys
from server.logs import setup_logging
from server.program.sealing import Sealer
from server.reseal import reseal_everything

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
    if args.workers > 1:
        supervise(settings, args.workers)
        return
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
    asyncio.run(_serve(app, settings, ssl_ctx))


def settle_heap() -> int:
    """Collect once, then freeze what startup built (modules, schemas, the app): it
    lives as long as the process, and a full collection that walks it too took ~90 ms
    of a loaded 2-CPU host's loop in ``bench.massdrop`` (every session's acks wait)."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("startup heap frozen", extra={"objects": frozen})
    return frozen


async def _serve(app: web.Application, settings: Settings, ssl_ctx: ssl.SSLContext | None
                 ) -> None:
    """Serve until SIGINT, or until SIGTERM's drain has moved every live session away.

    aiohttp's own signal handling would stop listening first; a draining node must keep
    serving its live sessions (and sending late arrivals on) until they have moved.
    """
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=float(settings.shutdown_grace_seconds))
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_ctx).start()
    settle_heap()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    draining: list[asyncio.Task[None]] = []

    async def drain() -> None:
        app[RUNTIME].draining = True  # /readyz fails: the proxy sends nobody new here
        try:
            await app[LIVE].drain(float(settings.shutdown_grace_seconds))
        finally:
            stop.set()

    def on_term() -> None:
        if not draining:
            print("SIGTERM: draining", flush=True)
            draining.append(loop.create_task(drain()))

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # Said only once listening with the handlers in place: a SIGTERM from here on drains.
    scheme = "https" if settings.tls else "http"
    print(f"Hearth is serving on {scheme}://{settings.host}:{settings.port} "
          f"(public URL {settings.public_url}, node {settings.node_id})", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def supervise(settings: Settings, workers: int) -> None:
    """``--workers N``: N serving processes on ports ``port .. port+N-1``, one node each.

    They share state through Redis, so it is required. Each worker gets its own slice
    of the media port range and its own node URL: ``<node_url>/<i>`` for the proxy rule
    in docs/deploy.md, or ``node_url`` with ``{port}``/``{worker}`` filled in. A worker
    that crashes is restarted (a bounded number of times); SIGTERM and SIGINT are
    passed on, and we exit when every worker has.
    """
    if not settings.redis_url:
        raise CliError("--workers needs HEARTH_REDIS_URL: workers share state through Redis")
    low_high = settings.media_port_range
    if low_high is not None and low_high[1] - low_high[0] + 1 < workers:
        raise CliError("media_ports has fewer ports than workers")
    procs = {i: _spawn_worker(settings, i, workers) for i in range(workers)}
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts = 0
    while any(p.poll() is None for p in procs.values()) or (not stopping and restarts < 10):
        for i, proc in list(procs.items()):
            if proc.poll() is not None and not stopping and restarts < 10:
                log.warning("worker exited; restarting", extra={"worker": i,
                                                                "status": proc.returncode})
                restarts += 1
                procs[i] = _spawn_worker(settings, i, workers)
        time.sleep(0.2)


def _spawn_worker(settings: Settings, index: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    port = settings.port + index
    template = settings.node_url
    if "{port}" in template or "{worker}" in template:
        url = template.replace("{port}", str(port)).replace("{worker}", str(index))
    else:
        url = f"{template}/{index}"
    env.update(HEARTH_PORT=str(port), HEARTH_NODE_ID=f"{settings.node_id}-{index}",
               HEARTH_NODE_URL=url)
    if settings.media_port_range is not None:
        low, high = settings.media_port_range
        size = (high - low + 1) // workers
        env["HEARTH_MEDIA_PORTS"] = f"{low + index * size}-{low + (index + 1) * size - 1}"
    return subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env)


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
            sealer = Sealer(load_keys(settings).data)
            return (await Accounts(store, sealer).create(args.username, password,
                                                 args.display_name or "")).id
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


def cmd_audit(settings: Settings, args: argparse.Namespace) -> None:
    """Export the audit log as JSON lines, or check its hash chain."""
    async def run() -> tuple[list[dict[str, object]], list[Problem]]:
        store = create_store(settings)
        try:
            log = AuditLog(store, b"")
            entries = await (log.for_session(args.session) if getattr(args, "session", None)
                             else log.entries())
            if args.audit_command == "export":  # reading the log is itself recorded
                await log.write("export", actor="cli", session=getattr(args, "session", None),
                                code="audit_export")
            return entries, (await log.verify() if args.audit_command == "verify" else [])
        finally:
            await store.close()

    entries, problems = asyncio.run(run())
    if args.audit_command == "export":
        for entry in sorted(entries, key=lambda e: int(str(e.get("seq", 0)))):
            print(json.dumps(entry, sort_keys=True))
        return
    for problem in problems:
        print(f"entry {problem.seq}: {problem.what}")
    if problems:
        raise CliError(f"audit log is NOT intact: {len(problems)} problem(s)")
    print(f"audit log intact: {len(entries)} entries, hash chain verified")


def cmd_keys(settings: Settings, args: argparse.Namespace) -> None:
    """Re-seal every value at rest under the current data key (a key rotation)."""
    async def run() -> dict[str, int]:
        app = create_app(settings)
        try:
            await app[STORE].ping()
            return await reseal_everything(app)
        finally:
            await app[STORE].close()

    try:
        counts = asyncio.run(run())
    except StoreError as exc:
        raise CliError(f"store unavailable: {exc}") from exc
    print("resealed under the current data key: " + ", ".join(
        f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()))
    print("HEARTH_DATA_KEY_PREVIOUS can now be removed.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth video sessions")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--workers", type=int, default=1,
                       help="serving processes on this node (needs Redis)")
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
    add.add_argument("--display-name",
                     help="the name people in sessions see (never the sign-in name)")
    add.set_defaults(func=cmd_therapist_add)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    export = audit.add_parser("export", help="print every entry as a JSON line")
    export.add_argument("--session", help="only this session's entries")
    export.set_defaults(func=cmd_audit)
    audit.add_parser("verify", help="check the hash chain (edited or deleted entries)"
                     ).set_defaults(func=cmd_audit)
    keys = sub.add_parser("keys", help="the data key").add_subparsers(
        dest="keys_command", required=True)
    keys.add_parser("reseal", help="rewrite everything sealed at rest under the current "
                    "data key, so HEARTH_DATA_KEY_PREVIOUS can be dropped"
                    ).set_defaults(func=cmd_keys)
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
