"""TLS tooling: dev CA and certificate, expiry checks, clear errors."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from certs.tls import CertError, check_cert, make_dev_certs, server_ssl_context


def test_dev_cert_has_sans_and_chains_to_ca(tmp_path: Path) -> None:
    made = make_dev_certs(tmp_path, ["clinic.local", "192.0.2.7"])
    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "clinic.local"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
        ipaddress.ip_address("192.0.2.7"),
    }
    ca = x509.load_pem_x509_certificate(made.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert made.key.stat().st_mode & 0o777 == 0o600
    # A client that trusts only the CA accepts the server context's certificate.
    client = ssl.create_default_context(cafile=str(made.ca_cert))
    assert client.verify_mode == ssl.CERT_REQUIRED
    server_ssl_context(made.cert, made.key)


def test_ca_is_reused_across_runs(tmp_path: Path) -> None:
    first = make_dev_certs(tmp_path).ca_cert.read_bytes()
    second = make_dev_certs(tmp_path).ca_cert.read_bytes()
    assert first == second


def test_expired_refused_and_expiring_warned(tmp_path: Path) -> None:
    made = make_dev_certs(tmp_path, days=10)
    status = check_cert(made.cert, made.key)
    assert status.expiring_soon
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=11)
    with pytest.raises(CertError, match="expired"):
        check_cert(made.cert, made.key, now=later)
    fresh = make_dev_certs(tmp_path, days=100)
    assert not check_cert(fresh.cert, fresh.key).expiring_soon


def test_missing_cert_says_how_to_create(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="hearth certs dev"):
        check_cert(tmp_path / "none.pem", tmp_path / "none.key")


def test_garbage_cert_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("garbage")
    (tmp_path / "c.key").write_text("garbage")
    with pytest.raises(CertError, match="not a PEM certificate"):
        check_cert(tmp_path / "c.pem", tmp_path / "c.key")
