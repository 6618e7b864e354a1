"""TLS material: a local development CA and server certificate, and checks on real certs.

Development needs HTTPS (getUserMedia and Secure cookies want a secure context),
so ``hearth certs dev`` makes a small CA the user can trust once, and a server
certificate for localhost, 127.0.0.1 and any configured host names. Production
mounts real PEM files; we only check them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

WARN_DAYS = 14


class CertError(Exception):
    """A certificate is missing, unreadable or expired; the message says what to do."""


@dataclass(frozen=True)
class DevCerts:
    ca_cert: Path
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hearth development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def make_dev_certs(
    directory: Path, hosts: list[str] | None = None, *, days: int = 397
) -> DevCerts:
    """Create (or reuse) a dev CA, then issue a fresh server certificate signed by it."""
    names = ["localhost", "127.0.0.1", "::1", *(hosts or [])]
    now = dt.datetime.now(dt.UTC)
    ca_cert_path, ca_key_path = directory / "ca.pem", directory / "ca.key"
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise CertError(f"{ca_key_path} is not an EC key; delete it and run again")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Hearth development CA"))
            .issuer_name(_name("Hearth development CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(ca_key_path, ca_key)
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    _write_key(key_path, key)
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return DevCerts(ca_cert_path, cert_path, key_path)


@dataclass(frozen=True)
class CertStatus:
    not_after: dt.datetime
    days_left: float

    @property
    def expiring_soon(self) -> bool:
        return self.days_left < WARN_DAYS


def check_cert(cert_path: Path, key_path: Path, *, now: dt.datetime | None = None) -> CertStatus:
    """Refuse missing or expired certificates; report how long a good one has left."""
    hint = "run `hearth certs dev` for a development certificate, or set HEARTH_TLS_CERT/KEY"
    for path in (cert_path, key_path):
        if not path.exists():
            raise CertError(f"TLS file {path} does not exist: {hint}")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as exc:
        raise CertError(f"{cert_path} is not a PEM certificate: {hint}") from exc
    moment = now or dt.datetime.now(dt.UTC)
    not_after = cert.not_valid_after_utc
    if not_after <= moment:
        raise CertError(f"TLS certificate {cert_path} expired on {not_after:%Y-%m-%d}: {hint}")
    if cert.not_valid_before_utc > moment:
        start = cert.not_valid_before_utc
        raise CertError(f"TLS certificate {cert_path} is not valid before {start:%Y-%m-%d %H:%M}")
    return CertStatus(not_after, (not_after - moment).total_seconds() / 86400)


def server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context from PEM files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except (ssl.SSLError, OSError) as exc:
        raise CertError(f"cannot load TLS certificate/key {cert_path}, {key_path}: {exc}") from exc
    return ctx
