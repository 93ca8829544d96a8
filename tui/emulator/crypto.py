"""Key material the emulator keeps in its state directory: a private CA, its TLS certificate, the token signing key
and the confidential app's certificate.

Everything is generated once per state directory and reused, so a demo survives restarts with the same CA. RSA key
generation is the slow part, so keys are drawn from a small per-process pool (tests start many emulators).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tui.core.files import write_atomically

_PEM = serialization.Encoding.PEM
_PKCS8 = serialization.PrivateFormat.PKCS8
_NOENC = serialization.NoEncryption()


@functools.cache
def _pooled_rsa(slot: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(_PEM, _PKCS8, _NOENC)


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None = None,
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass(frozen=True)
class KeyMaterial:
    """Paths of the PEM files, plus the loaded keys the server uses."""

    ca_path: Path  # CA certificate only: what clients trust
    server_cert_path: Path  # server certificate + CA chain
    server_key_path: Path
    signing_key: rsa.RSAPrivateKey
    signing_kid: str
    app_cert_path: Path  # confidential app: certificate followed by its private key
    app_certificate: x509.Certificate

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.signing_kid, "use": "sig", "alg": "RS256"}]}


def load_or_create(directory: Path) -> KeyMaterial:
    """Load the key material from ``directory``; create whatever is missing (CA first, so certs chain to it)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca.key"
    srv_cert, srv_key = directory / "server.pem", directory / "server.key"
    sign_path, app_path = directory / "signing.key", directory / "app-cert.pem"
    if not (ca_path.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(f"graphphoto-tui emulator CA {uuid.uuid4().hex[:8]}", ca_key, ca=True)
        write_atomically(ca_key_path, _key_pem(ca_key))
        ca_path.write_bytes(ca.public_bytes(_PEM))
        srv_cert.unlink(missing_ok=True)
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    if not (srv_cert.exists() and srv_key.exists()):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("127.0.0.1", key, ca, ca_key, server=True)  # type: ignore[arg-type]
        write_atomically(srv_key, _key_pem(key))
        srv_cert.write_bytes(cert.public_bytes(_PEM) + ca.public_bytes(_PEM))
    if not sign_path.exists():
        write_atomically(sign_path, _key_pem(_pooled_rsa(0)))
    signing = serialization.load_pem_private_key(sign_path.read_bytes(), None)
    if not app_path.exists():
        key = _pooled_rsa(1)
        cert = _cert("graphphoto-tui demo app", key)
        write_atomically(app_path, cert.public_bytes(_PEM) + _key_pem(key))
    app_cert = x509.load_pem_x509_certificate(app_path.read_bytes())
    assert isinstance(signing, rsa.RSAPrivateKey)
    kid = signing.public_key().public_numbers().n.to_bytes(256, "big")[:8].hex()
    return KeyMaterial(ca_path, srv_cert, srv_key, signing, kid, app_path, app_cert)


def self_signed_pem(subject: str = "another app") -> bytes:
    """A fresh certificate + key (PEM), e.g. for a test proving an unregistered certificate is refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _cert(subject, key).public_bytes(_PEM) + _key_pem(key)
