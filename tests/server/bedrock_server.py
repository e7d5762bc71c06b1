#!/usr/bin/env python3
"""A stand-in for the Bedrock control plane over HTTPS on 127.0.0.1, for tests.

botocore refuses bearer tokens over plain HTTP, so this serves TLS with a
self-signed certificate made at start-up (written to --cert for AWS_CA_BUNDLE).
GET /foundation-models answers 200 to `Authorization: Bearer <the expected key>`
and 403 otherwise; every request's method, path and Authorization header are
appended to --log as JSON lines.

Prints exactly one line, `listening on https://127.0.0.1:PORT`, when ready.
"""

import argparse
import datetime
import http.server
import ipaddress
import json
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(cert_path, key_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True, help="where to write the certificate (PEM)")
    ap.add_argument("--log", required=True, help="file to append requests to")
    ap.add_argument("--expect-key-file", required=True, help="file holding the accepted key")
    args = ap.parse_args()

    key_path = args.cert + ".key"
    self_signed(args.cert, key_path)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):  # keep stderr quiet
            pass

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": "GET", "path": self.path, "authorization": auth}) + "\n")
            expected = open(args.expect_key_file).read().strip()
            if self.path.startswith("/foundation-models") and auth == f"Bearer {expected}":
                status, body, kind = 200, {"modelSummaries": [{"modelId": "amazon.nova-lite-v1:0"}]}, None
            else:
                status, kind = 403, "AccessDeniedException"
                body = {"message": "Invalid API Key format"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if kind:
                self.send_header("x-amzn-ErrorType", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on https://127.0.0.1:{server.server_address[1]}", flush=True)
    # Stop when the test that started us closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
