#!/usr/bin/env python3
"""Regenerate bedkey's short-term key test vectors with AWS's official generator.

Requires `pip install aws-bedrock-token-generator==1.1.0` (which pulls in
botocore). Nothing is downloaded at runtime and no network is used: signing is
purely local.

Usage:
    scripts/make-vectors.py [--dir tests/vectors] [--check]

For each vector below, the key is recomputed from its inputs with the clock
frozen at `signed_at`. If the vector file exists, only its `key=` line is
rewritten (its comment header is kept); otherwise the file is created with the
header given here. With --check nothing is written and the exit status is 1 if
any stored key differs from what the generator produces.
"""

import argparse
import datetime
import os
import sys
from unittest import mock

import aws_bedrock_token_generator
import botocore
import botocore.auth
from aws_bedrock_token_generator import provide_token
from botocore.credentials import CredentialProvider, Credentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# A made-up, STS-shaped session token (356 base64 chars) containing '/', '+'
# and '=' so that percent-encoding of the token is exercised.
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjU9VEyLsXl3qtuiZndF9WKgafIcuY2BNoa3oWxtnZ6ScK2cbZ96IC73of"
    "BKSV/RBVtGiUMWnyhW+kea6OqrLyzhxgefTOe9UTOKeoXgOdBlahz6tm92sZIkyJ1IvHYtD8"
    "Ph0DzjlO0PFS0dflLBQIS9SMFdiJ1uguYc93jE0zoNueoO205qmKR9GhWVxrORX6J4x74J5t"
    "w3tsMiqqoEHB1oLzYPuDbIG52RpsiXFidX8Bsyr8ymq++7pAbSKfmFRetQIStbiMzyqTxCzu"
    "ZiTXYij9HWwFmTPU1Ojlcn2JTqssK6O5PI2xbv/0TQ/q8bEIoXkVEAWbXBKdgs1cAA=="
)

# Field order in the files; an empty session_token means "no token".
FIELDS = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "signed_at",
    "expires_seconds",
]

VECTORS = {
    "short-term-a.txt": {
        "about": "",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": "",
        "region": "us-west-2",
        "signed_at": "2025-07-15T05:00:00Z",
        "expires_seconds": "43200",
    },
    "short-term-session.txt": {
        "about": "With a session token (X-Amz-Security-Token) and a 900 s expiry.",
        "access_key_id": "ASIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": SESSION_TOKEN,
        "region": "eu-central-1",
        "signed_at": "2025-07-15T05:00:00Z",
        "expires_seconds": "900",
    },
    "short-term-b.txt": {
        "about": "No session token, minimum expiry (1 s), another region and date.",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": "",
        "region": "ap-northeast-1",
        "signed_at": "2026-01-02T03:04:05Z",
        "expires_seconds": "1",
    },
}


class _StaticProvider(CredentialProvider):
    """Hands fixed credentials to provide_token (no env/config lookup)."""

    def __init__(self, creds):
        super().__init__()
        self._creds = creds

    def load(self):
        return self._creds


def make_key(v):
    """Run the official generator with botocore's clock frozen at v['signed_at']."""
    when = datetime.datetime.strptime(v["signed_at"], "%Y-%m-%dT%H:%M:%SZ")
    creds = Credentials(
        v["access_key_id"], v["secret_access_key"], v["session_token"] or None
    )
    # botocore.auth imports get_current_datetime from botocore.compat and
    # SigV4Auth.add_auth calls it for X-Amz-Date (naive UTC datetime).
    with mock.patch.object(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: when
    ):
        return provide_token(
            region=v["region"],
            aws_credentials_provider=_StaticProvider(creds),
            expiry=datetime.timedelta(seconds=int(v["expires_seconds"])),
        )


def header(v):
    lines = [
        "# A short-term Bedrock API key made by the official Python generator",
        f"# (aws-bedrock-token-generator {aws_bedrock_token_generator.__version__},"
        f" botocore {botocore.__version__}) with its clock fixed.",
    ]
    if v["about"]:
        lines.append("# " + v["about"])
    lines.append("# Inputs, one per line as name=value, then the expected key.")
    lines.append("# Regenerate/check with scripts/make-vectors.py.")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--dir", default=os.path.join(here, "..", "tests", "vectors"))
    ap.add_argument("--check", action="store_true", help="verify, don't write")
    args = ap.parse_args()

    if aws_bedrock_token_generator.__version__ != "1.1.0":
        sys.exit("need aws-bedrock-token-generator==1.1.0, found "
                 + aws_bedrock_token_generator.__version__)

    bad = 0
    for name, v in VECTORS.items():
        path = os.path.join(args.dir, name)
        key = make_key(v)
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()
            stored = dict(l.split("=", 1) for l in lines if "=" in l and l[0] != "#")
            diff = [k for k in FIELDS if stored.get(k) != v[k]]
            if diff:
                sys.exit(f"{name}: inputs differ from this script: {diff}")
            old = [l for l in lines if l.startswith("key=")]
            if old == [f"key={key}"]:
                print(f"ok       {name}")
                continue
            new = [l for l in lines if not l.startswith("key=")] + [f"key={key}"]
        else:
            old = None
            new = header(v) + [f"{k}={v[k]}" for k in FIELDS] + [f"key={key}"]

        if args.check:
            print(f"MISMATCH {name}" if old is not None else f"MISSING  {name}")
            bad += 1
        else:
            os.makedirs(args.dir, exist_ok=True)
            with open(path, "w") as f:
                f.write("\n".join(new) + "\n")
            print(f"wrote    {name}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
