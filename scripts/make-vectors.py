#!/usr/bin/env python3
"""Regenerate bedkey's short-term key test vectors with AWS's official generators.

Requires `pip install aws-bedrock-token-generator==1.1.0
token-generator-for-aws-external-anthropic==1.0.0` (which pull in botocore):
the first makes the Bedrock vectors (short-term-*.txt), the second the Claude
Platform on AWS ones (claude-platform-*.txt). Nothing is downloaded at runtime
and no network is used: signing is purely local.

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
import token_generator_for_aws_external_anthropic as cp_generator
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

# Claude Platform on AWS keys: same credentials and session token as above, so
# the two formats differ only in host, service name and prefix.
CP_VECTORS = {
    "claude-platform-a.txt": {
        "about": "No session token, the default (and maximum) 12 h expiry.",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": "",
        "region": "us-west-2",
        "signed_at": "2025-07-15T05:00:00Z",
        "expires_seconds": "43200",
    },
    "claude-platform-session.txt": {
        "about": "With a session token (X-Amz-Security-Token) and a 900 s expiry.",
        "access_key_id": "ASIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": SESSION_TOKEN,
        "region": "eu-central-1",
        "signed_at": "2025-07-15T05:00:00Z",
        "expires_seconds": "900",
    },
    "claude-platform-short.txt": {
        "about": "No session token, minimum expiry (1 s), another region and date.",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": "",
        "region": "ap-northeast-1",
        "signed_at": "2026-01-02T03:04:05Z",
        "expires_seconds": "1",
    },
    # The generator does not check the region at all, so a GovCloud one is
    # signed like any other (it only goes into the credential scope).
    "claude-platform-gov.txt": {
        "about": "With a session token, a GovCloud region, 3600 s, last second of a year.",
        "access_key_id": "ASIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET,
        "session_token": SESSION_TOKEN,
        "region": "us-gov-west-1",
        "signed_at": "2025-12-31T23:59:59Z",
        "expires_seconds": "3600",
    },
}


class _StaticProvider(CredentialProvider):
    """Hands fixed credentials to provide_token (no env/config lookup)."""

    def __init__(self, creds):
        super().__init__()
        self._creds = creds

    def load(self):
        return self._creds


def _frozen(v, sign):
    """Call sign(creds, region, expiry) with botocore's clock frozen at v['signed_at']."""
    when = datetime.datetime.strptime(v["signed_at"], "%Y-%m-%dT%H:%M:%SZ")
    # None, not "": botocore adds X-Amz-Security-Token whenever the token is
    # not None, so an empty string would sign an empty token parameter.
    creds = Credentials(
        v["access_key_id"], v["secret_access_key"], v["session_token"] or None
    )
    # botocore.auth imports get_current_datetime from botocore.compat and
    # SigV4Auth.add_auth calls it for X-Amz-Date (naive UTC datetime).
    with mock.patch.object(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: when
    ):
        return sign(
            creds, v["region"], datetime.timedelta(seconds=int(v["expires_seconds"]))
        )


def make_key(v):
    """A Bedrock key from aws_bedrock_token_generator.provide_token."""
    return _frozen(v, lambda creds, region, expiry: provide_token(
        region=region,
        aws_credentials_provider=_StaticProvider(creds),
        expiry=expiry,
    ))


def make_cp_key(v):
    """A Claude Platform key from the stateless get_token (no boto3 session)."""
    return _frozen(v, lambda creds, region, expiry: cp_generator.get_token(
        credentials=creds, region=region, expiry=expiry
    ))


def dist_name(package):
    return package.__name__.replace("_", "-")


def header(v, what="Bedrock API key", package=aws_bedrock_token_generator):
    lines = [
        f"# A short-term {what} made by the official Python generator",
        f"# ({dist_name(package)} {package.__version__},"
        f" botocore {botocore.__version__}) with its clock fixed.",
    ]
    if v["about"]:
        lines.append("# " + v["about"])
    lines.append("# Inputs, one per line as name=value, then the expected key.")
    lines.append("# Regenerate/check with scripts/make-vectors.py.")
    return lines


def cp_header(v):
    return header(v, "Claude Platform on AWS API key", cp_generator)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--dir", default=os.path.join(here, "..", "tests", "vectors"))
    ap.add_argument("--check", action="store_true", help="verify, don't write")
    args = ap.parse_args()

    # Both pins are checked up front: --check must cover every vector.
    for package, want in [(aws_bedrock_token_generator, "1.1.0"), (cp_generator, "1.0.0")]:
        if package.__version__ != want:
            sys.exit(f"need {dist_name(package)}=={want}, found {package.__version__}")

    jobs = [(name, v, make_key, header) for name, v in VECTORS.items()]
    jobs += [(name, v, make_cp_key, cp_header) for name, v in CP_VECTORS.items()]
    bad = 0
    for name, v, make, head in jobs:
        path = os.path.join(args.dir, name)
        key = make(v)
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
            new = head(v) + [f"{k}={v[k]}" for k in FIELDS] + [f"key={key}"]

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
