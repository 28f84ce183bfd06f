"""Certificates and node keys for a Flower deployment across hosts, made with `cryptography`.

Why here and not openssl: the test across network namespaces (tests/test_flower_hosts.py) makes
a fresh CA, server certificate and SuperNode keys on every run, in Python, with nothing to
install. Every private key comes from `cryptography` (OpenSSL's CSPRNG, seeded by the OS) and
certificate serials from `os.urandom` (`x509.random_serial_number`); nothing is seeded.

- `write_server_tls(folder, ips, names)`: a CA (``ca.crt``; its key is kept only to sign) and
  the SuperLink's certificate (``server.pem``, ``server.key``) with every address the nodes and
  the SuperLink's own ServerApp dial in subjectAltName: what ``flower-superlink
  --ssl-ca-certfile/--ssl-certfile/--ssl-keyfile`` and ``flower-supernode --root-certificates``
  take.
- `write_node_key(path)`: an EC P-384 SuperNode key, OpenSSH private (``path``) and public
  (``path.pub``): what ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode
  register`` take (Flower 1.42 accepts NIST curves only).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 2  # test certificates: short-lived on purpose


@dataclass(frozen=True)
class ServerTls:
    """The SuperLink's TLS files: the CA the nodes trust, the server certificate and key."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class NodeKey:
    """One SuperNode's authentication key pair (OpenSSH files)."""

    private: Path
    public: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A PEM private key readable by its owner only."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh self-signed CA (key from the CSPRNG, random serial), valid `VALID_DAYS`."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA384())
    )
    return key, cert


def server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    ips: list[str],
    names: list[str],
) -> x509.Certificate:
    """A TLS server certificate for `key`, signed by the CA, naming `ips` and `names` in
    subjectAltName (clients check the address they dialled against it, not the CN)."""
    alt: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    alt += [x509.DNSName(name) for name in names]
    now = datetime.datetime.now(datetime.UTC)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0] if names else ips[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
        .sign(ca_key, hashes.SHA384())
    )


def write_ca(folder: Path, common_name: str = "tycoon-ca") -> Path:
    """Only a CA certificate (its key thrown away): a trust root that signed nothing here."""
    folder.mkdir(parents=True, exist_ok=True)
    _, cert = make_ca(common_name)
    path = folder / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def write_server_tls(folder: Path, ips: list[str], names: list[str] | None = None) -> ServerTls:
    """A CA and a server certificate for `ips`/`names` under `folder` (the CA's key is kept
    as ``ca.key`` so more certificates can be signed; guard the folder)."""
    if not ips and not names:
        raise ValueError("a server certificate needs at least one address or name")
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("tycoon-ca")
    key = ec.generate_private_key(ec.SECP384R1())
    cert = server_cert(ca_key, ca_cert, key, ips, list(names or []))
    files = ServerTls(folder / "ca.crt", folder / "server.pem", folder / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    _write_key(folder / "ca.key", ca_key)
    return files


def write_node_key(path: Path) -> NodeKey:
    """An EC P-384 key pair as ``ssh-keygen -t ecdsa -b 384 -N ""`` would write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.touch(mode=0o600)
    path.write_bytes(private)
    pub = path.with_name(path.name + ".pub")
    pub.write_bytes(public + b"\n")
    return NodeKey(path, pub)
