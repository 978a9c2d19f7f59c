"""Throwaway TLS material for tests: a CA, a server certificate for localhost/127.0.0.1, and a
client certificate whose key is encrypted with a password (for mutual TLS and ssl.key.password)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    #: The password encrypting client_key: a secret that must never appear in any output.
    client_key_password: str

    def client_settings(self, mutual: bool = True, key_password: str | None = None) -> dict[str, str]:
        """librdkafka settings of a client that trusts the CA (and, when ``mutual``, presents its certificate)."""
        settings = {"security.protocol": "SSL", "ssl.ca.location": str(self.ca)}
        if mutual:
            settings.update({
                "ssl.certificate.location": str(self.client_cert),
                "ssl.key.location": str(self.client_key),
                "ssl.key.password": self.client_key_password if key_password is None else key_password,
            })
        return settings


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
                 *, ca: bool = False, sans: list[x509.GeneralName] | None = None,
                 usage: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: str | None = None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


def make_tls_files(directory: Path, client_key_password: str) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("streamproc test CA", ca_key, _name("streamproc test CA"), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(
        "localhost", server_key, ca_cert.subject, ca_key,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        # Client authentication too: a Kafka broker checks its keystore by a handshake with itself.
        usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _certificate("streamproc test client", client_key, ca_cert.subject, ca_key,
                               usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                     directory / "client.pem", directory / "client.key", client_key_password)
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.server_key, server_key)
    files.client_cert.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(files.client_key, client_key, client_key_password)
    return files


def pkcs12_keystore(files: TlsFiles, path: Path, password: str) -> Path:
    """The server's key and certificate (and the CA) as a PKCS#12 keystore, as a Java server reads them."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(files.server_key.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"kafka", key, cert, [ca], serialization.BestAvailableEncryption(password.encode())))  # type: ignore[arg-type]
    return path
