#!/usr/bin/env python3
"""Generates the demo PKI: one CA per demo namespace whose certificate is in the demo's CA
ConfigMap/Secret, and whose key lets `--demo` sign local backend certificates at run time so the
TLS probe (`p`) has real servers to talk to. These keys are demo material only.

Run from the repository root: python3 assets/demo/pki/generate.py (needs `cryptography`).
It rewrites the CA certificates in assets/demo/20-shop.yaml and 30-payments.yaml.
"""
import base64, datetime, re
from pathlib import Path
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).parent
DEMO = HERE.parent
CAS = {
    "shop": "Shop Internal CA",
    "payments": "Payments Internal CA",
    "fraud": "Fraud Detection Root CA",
}

def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Retail")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
            .not_valid_after(datetime.datetime(2036, 1, 1, tzinfo=datetime.timezone.utc))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.S)

def replace_configmap_pem(path, cm_name, pem):
    text = path.read_text()
    start = text.index(f"name: {cm_name}\n")
    m = PEM_RE.search(text, start)
    indent = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
    block = "\n".join(indent + l if i else l for i, l in enumerate(pem.strip().split("\n"))) + "\n"
    path.write_text(text[:m.start()] + block + text[m.end():])

def replace_secret_b64(path, secret_name, pem):
    text = path.read_text()
    start = text.index(f"name: {secret_name}\n")
    m = re.compile(r"ca\.crt: (\S+)").search(text, start)
    path.write_text(text[:m.start(1)] + base64.b64encode(pem.encode()).decode() + text[m.end(1):])

for short, cn in CAS.items():
    key, cert = make_ca(cn)
    (HERE / f"{short}-ca.key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (HERE / f"{short}-ca.crt.pem").write_text(pem)
    if short == "shop":
        replace_configmap_pem(DEMO / "20-shop.yaml", "storefront-ca", pem)
    elif short == "payments":
        replace_configmap_pem(DEMO / "30-payments.yaml", "payments-ca", pem)
    else:
        replace_secret_b64(DEMO / "30-payments.yaml", "fraud-ca", pem)
print("demo PKI written")
