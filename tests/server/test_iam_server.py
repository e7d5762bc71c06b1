#!/usr/bin/env python3
"""Checks iam_server.py against boto3, an independent AWS client, so the Rust
tests can trust it.  Run with `pytest tests/server` or
`python3 tests/server/test_iam_server.py`."""

import atexit
import base64
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

HERE = os.path.dirname(os.path.abspath(__file__))
BEDROCK = "bedrock.amazonaws.com"
POLICY = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"
_server = {}


def start_server(*extra):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "iam_server.py"), "--port", "0", *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert m, f"unexpected first line {line!r}"
    return p, m.group(1)


def url():
    # One server for the whole module; tests use unique user names to stay independent.
    if "url" not in _server:
        p, u = start_server("--exit-on-stdin-eof")
        _server.update(proc=p, url=u)
        atexit.register(lambda: (p.terminate(), p.wait(10)))
    return _server["url"]


def client(service="iam", retries=1, key="AKIAIOSFODNN7EXAMPLE", secret="dummy",
           read_timeout=60):
    # total_max_attempts=1 so injected faults are observed instead of retried away;
    # no client-side validation because the Rust SDK does none (ranges reach the server).
    return boto3.client(service, endpoint_url=url(), region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": retries, "mode": "standard"},
                                      parameter_validation=False, read_timeout=read_timeout))


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url() + path, data=data, method=method)
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def raw_iam(params):
    """Unsigned IAM query call, to see the HTTP reply itself rather than boto3's reading of it.
    The server takes the access key from the Authorization header and checks no signature."""
    body = urllib.parse.urlencode({"Version": "2010-05-08", **params}).encode()
    req = urllib.request.Request(url() + "/", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/"
                         "us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
    })
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def creds_of(user):
    return [c for c in control("GET", "/_control/credentials") if c["user"] == user]


def new_user(iam):
    name = "BedrockAPIKey-" + uuid.uuid4().hex[:4]
    iam.create_user(UserName=name)
    return name


def expect_error(fn, code, status, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"expected {(code, status)}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}")


def test_full_lifecycle():
    iam = client()
    user = new_user(iam)
    iam.attach_user_policy(UserName=user, PolicyArn=POLICY)
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [POLICY]

    c1 = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
    c1 = c1["ServiceSpecificCredential"]
    c2 = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK,
                                                CredentialAgeDays=30)["ServiceSpecificCredential"]
    # As in real keys, the user's second credential carries "+1" after the user name.
    for c, alias in ((c1, f"{user}-at-123456789012"), (c2, f"{user}+1-at-123456789012")):
        assert re.fullmatch(r"ACCA[A-Z0-9]{17}", c["ServiceSpecificCredentialId"])
        assert c["Status"] == "Active" and c["UserName"] == user and c["ServiceName"] == BEDROCK
        assert c["ServiceCredentialAlias"] == alias
        secret = c["ServiceCredentialSecret"]
        assert secret.startswith("ABSK")
        assert base64.b64decode(secret[4:]).decode().startswith(c["ServiceCredentialAlias"] + ":")
    assert "ExpirationDate" not in c1
    assert c2["ExpirationDate"] - c2["CreateDate"] == dt.timedelta(days=30)

    e = expect_error(iam.create_service_specific_credential, "LimitExceeded", 409,
                     UserName=user, ServiceName=BEDROCK)
    assert "2" in e.response["Error"]["Message"]

    listed = iam.list_service_specific_credentials(UserName=user, ServiceName=BEDROCK)
    metas = listed["ServiceSpecificCredentials"]
    assert listed["IsTruncated"] is False
    assert {m["ServiceSpecificCredentialId"] for m in metas} == {
        c1["ServiceSpecificCredentialId"], c2["ServiceSpecificCredentialId"]}
    aliases = {c["ServiceSpecificCredentialId"]: c["ServiceCredentialAlias"] for c in (c1, c2)}
    for m in metas:
        assert "ServiceCredentialSecret" not in m and "ServicePassword" not in m
        assert m["ServiceCredentialAlias"] == aliases[m["ServiceSpecificCredentialId"]]
    assert iam.list_service_specific_credentials(
        UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredentials"] == []

    page = iam.list_service_specific_credentials(UserName=user, MaxItems=1)
    assert page["IsTruncated"] and len(page["ServiceSpecificCredentials"]) == 1
    page2 = iam.list_service_specific_credentials(UserName=user, MaxItems=1, Marker=page["Marker"])
    assert not page2["IsTruncated"]
    assert page2["ServiceSpecificCredentials"][0]["ServiceSpecificCredentialId"] == \
        c2["ServiceSpecificCredentialId"]

    iam.update_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=c1["ServiceSpecificCredentialId"], Status="Inactive")
    state = {c["id"]: c for c in control("GET", "/_control/credentials")}
    assert state[c1["ServiceSpecificCredentialId"]]["status"] == "Inactive"
    assert c1["ServiceCredentialSecret"] not in json.dumps(state)

    r = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=c2["ServiceSpecificCredentialId"])
    r = r["ServiceSpecificCredential"]
    assert r["ServiceSpecificCredentialId"] == c2["ServiceSpecificCredentialId"]
    assert r["ServiceCredentialSecret"].startswith("ABSK")
    assert r["ServiceCredentialSecret"] != c2["ServiceCredentialSecret"]

    expect_error(iam.delete_user, "DeleteConflict", 409, UserName=user)
    for c in (c1, c2):
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"])
    expect_error(iam.delete_service_specific_credential, "NoSuchEntity", 404,
                 UserName=user, ServiceSpecificCredentialId=c1["ServiceSpecificCredentialId"])
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    iam.detach_user_policy(UserName=user, PolicyArn=POLICY)
    iam.delete_user(UserName=user)


def test_alias_styles():
    iam = client()
    try:
        for style, pattern in (("after-account", r"{u}-at-123456789012-[0-9a-f]{{6}}"),
                               ("plain", r"{u}-at-123456789012")):
            control("POST", "/_control/aliases", {"style": style})
            user = new_user(iam)
            for _ in range(2):
                c = iam.create_service_specific_credential(
                    UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]
                assert re.fullmatch(pattern.format(u=re.escape(user)), c["ServiceCredentialAlias"])
        # A later credential after a deletion still counts on: never the first's alias.
        control("POST", "/_control/aliases", {"style": "plus"})
        user = new_user(iam)
        first = iam.create_service_specific_credential(
            UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId=first["ServiceSpecificCredentialId"])
        later = iam.create_service_specific_credential(
            UserName=user, ServiceName=BEDROCK)["ServiceSpecificCredential"]
        assert later["ServiceCredentialAlias"] == f"{user}+1-at-123456789012"
    finally:
        control("POST", "/_control/aliases", {"style": "plus"})


def test_validation_and_missing_entities():
    iam = client()
    user = new_user(iam)
    for age in (0, 36601):
        expect_error(iam.create_service_specific_credential, "ValidationError", 400,
                     UserName=user, ServiceName=BEDROCK, CredentialAgeDays=age)
    c = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK,
                                               CredentialAgeDays=36600)["ServiceSpecificCredential"]
    assert c["ExpirationDate"] - c["CreateDate"] == dt.timedelta(days=36600)
    expect_error(iam.create_service_specific_credential, "NoSuchEntity", 404,
                 UserName="nobody-" + uuid.uuid4().hex[:6], ServiceName=BEDROCK)
    expect_error(iam.list_service_specific_credentials, "NoSuchEntity", 404, UserName="nobody-x")
    expect_error(iam.create_service_specific_credential, "NotSupportedService", 404,
                 UserName=user, ServiceName="s3.amazonaws.com")
    expect_error(iam.update_service_specific_credential, "NoSuchEntity", 404,
                 UserName=user, ServiceSpecificCredentialId="ACCA" + "Z" * 17, Status="Inactive")
    expect_error(iam.reset_service_specific_credential, "NoSuchEntity", 404,
                 UserName=user, ServiceSpecificCredentialId="ACCA" + "Z" * 17)
    # Another user's credential id is not visible through this user.
    other = new_user(iam)
    expect_error(iam.delete_service_specific_credential, "NoSuchEntity", 404,
                 UserName=other, ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"])
    expect_error(iam.update_service_specific_credential, "ValidationError", 400,
                 UserName=user, ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"],
                 Status="Bogus")


def test_codecommit_password_credential():
    iam = client()
    user = new_user(iam)
    c = iam.create_service_specific_credential(
        UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert c["ServiceUserName"] == f"{user}-at-123456789012" and c["ServicePassword"]
    assert "ServiceCredentialSecret" not in c
    expect_error(iam.create_service_specific_credential, "ValidationError", 400,
                 UserName=user, ServiceName="codecommit.amazonaws.com", CredentialAgeDays=5)


def test_caller_identity_and_implicit_user():
    iam = client()
    user = new_user(iam)
    sts = client("sts")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    # The dummy key is not an IAM user's, so UserName is mandatory, like real IAM.
    expect_error(iam.list_service_specific_credentials, "ValidationError", 400)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    c = as_user.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
    metas = as_user.list_service_specific_credentials()["ServiceSpecificCredentials"]
    assert [m["ServiceSpecificCredentialId"] for m in metas] == \
        [c["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]]
    every = iam.list_service_specific_credentials(AllUsers=True, ServiceName=BEDROCK)
    assert any(m["UserName"] == user for m in every["ServiceSpecificCredentials"])


def test_fault_injection_and_out_of_band_delete():
    iam = client()
    user = new_user(iam)
    control("POST", "/_control/fail", {"action": "CreateServiceSpecificCredential",
                                       "code": "AccessDenied", "status": 403,
                                       "message": "not allowed", "times": 1})
    e = expect_error(iam.create_service_specific_credential, "AccessDenied", 403,
                     UserName=user, ServiceName=BEDROCK)
    assert e.response["Error"]["Message"] == "not allowed"
    c = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
    cid = c["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]

    control("POST", "/_control/throttle", {"action": "ListServiceSpecificCredentials", "times": 1})
    expect_error(iam.list_service_specific_credentials, "Throttling", 400, UserName=user)
    control("POST", "/_control/throttle", {"action": "ListServiceSpecificCredentials", "times": 1})
    # A retrying client rides through a single throttle.
    assert len(client(retries=3).list_service_specific_credentials(
        UserName=user)["ServiceSpecificCredentials"]) == 1

    # Faults also apply to actions proxied to moto.
    control("POST", "/_control/fail", {"action": "GetUser", "code": "ServiceFailure",
                                       "status": 500, "times": 1})
    expect_error(iam.get_user, "ServiceFailure", 500, UserName=user)
    control("POST", "/_control/fail", {"action": "GetUser", "code": "X", "status": 400,
                                       "times": -1})
    control("POST", "/_control/reset")
    iam.get_user(UserName=user)

    control("PATCH", f"/_control/credentials/{cid}", {"expires": "2000-01-01T00:00:00Z"})
    metas = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert metas[0]["Status"] == "Expired"

    control("DELETE", f"/_control/credentials/{cid}")
    assert cid not in {c["id"] for c in control("GET", "/_control/credentials")}
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    expect_error(iam.update_service_specific_credential, "NoSuchEntity", 404,
                 UserName=user, ServiceSpecificCredentialId=cid, Status="Active")
    actions = [r["action"] for r in control("GET", "/_control/requests")]
    assert "UpdateServiceSpecificCredential" in actions


def test_fault_modes_act_then_misbehave():
    iam = client()

    def create(user):
        return iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)

    # drop_after: the credential exists, but the caller only sees the connection close.
    user = new_user(iam)
    f = control("POST", "/_control/fail", {"action": "CreateServiceSpecificCredential",
                                           "mode": "drop_after"})
    assert f["mode"] == "drop_after" and f["times"] == 1
    try:
        create(user)
        raise AssertionError("expected the connection to be dropped")
    except ConnectionClosedError:
        pass
    assert len(creds_of(user)) == 1
    # The fault is used up and the server still serves (the dropped connection is gone).
    create(user)
    assert len(creds_of(user)) == 2

    # 500_after: an error reply although the credential was created.
    user = new_user(iam)
    control("POST", "/_control/fail", {"action": "*", "mode": "500_after"})
    expect_error(create, "ServiceFailure", 500, user=user)
    assert len(creds_of(user)) == 1

    # garbled_after: 200 and an XML body cut short, whose Content-Length matches.
    user = new_user(iam)
    control("POST", "/_control/fail", {"action": "CreateServiceSpecificCredential",
                                       "mode": "garbled_after"})
    status, headers, body = raw_iam({"Action": "CreateServiceSpecificCredential",
                                     "UserName": user, "ServiceName": BEDROCK})
    assert status == 200 and headers["Content-Type"] == "text/xml"
    assert int(headers["Content-Length"]) == len(body) > 0
    assert body.startswith(b"<CreateServiceSpecificCredentialResponse")
    try:
        ET.fromstring(body)
        raise AssertionError(f"expected unparsable XML, got {body!r}")
    except ET.ParseError:
        pass
    assert len(creds_of(user)) == 1

    # The "after" modes also apply to actions proxied to moto: the user exists.
    name = "BedrockAPIKey-" + uuid.uuid4().hex[:4]
    control("POST", "/_control/fail", {"action": "CreateUser", "mode": "drop_after"})
    try:
        iam.create_user(UserName=name)
        raise AssertionError("expected the connection to be dropped")
    except ConnectionClosedError:
        pass
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    control("POST", "/_control/fail", {"action": "CreateUser", "mode": "500_after"})
    expect_error(iam.create_user, "ServiceFailure", 500, UserName=name + "x")
    iam.get_user(UserName=name + "x")

    # hang: no reply within the client's timeout, nothing created, other calls unaffected.
    user = new_user(iam)
    impatient = client(read_timeout=0.5)
    control("POST", "/_control/fail", {"action": "CreateServiceSpecificCredential",
                                       "mode": "hang", "delay_ms": 1500})
    t = time.monotonic()
    try:
        impatient.create_service_specific_credential(UserName=user, ServiceName=BEDROCK)
        raise AssertionError("expected a read timeout")
    except ReadTimeoutError:
        pass
    # Answered while the hung request is still held (until about t + 1.5 s).
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    assert time.monotonic() - t < 1.4
    assert creds_of(user) == []

    # Unknown modes, and modes on throttles, are refused.
    for path, bad in (("/_control/fail", "explode"), ("/_control/throttle", "hang")):
        try:
            control("POST", path, {"action": "*", "mode": bad})
            raise AssertionError(f"expected 400 for {bad} on {path}")
        except urllib.error.HTTPError as e:
            assert e.code == 400
    iam.get_user(UserName=user)  # a "*" fault would have caught this had one been registered


def test_hang_ends_at_shutdown():
    p, base = start_server()
    host, port = base.removeprefix("http://").split(":")
    raw_control = urllib.request.Request(
        base + "/_control/fail", method="POST",
        data=json.dumps({"action": "ListUsers", "mode": "hang"}).encode())
    with urllib.request.urlopen(raw_control) as r:
        assert json.load(r)["delay_ms"] == 600000  # the default: hang "forever"
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(b"GET /?Action=ListUsers&Version=2010-05-08 HTTP/1.1\r\n"
                  b"Host: x\r\n\r\n")
        time.sleep(0.3)  # let the server take the request before stopping it
        p.send_signal(signal.SIGTERM)
        assert s.recv(1024) == b""  # closed without a reply, and well before 600 s
    assert p.wait(15) == 0


def test_shutdown_paths():
    p, _ = start_server()
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 0
    p, _ = start_server("--exit-on-stdin-eof")
    p.stdin.close()
    assert p.wait(15) == 0


if __name__ == "__main__":
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    for name, fn in tests:
        t = time.time()
        fn()
        print(f"ok  {name} ({time.time() - t:.1f}s)")
    print(f"{len(tests)} passed")
