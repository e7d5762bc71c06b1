#!/usr/bin/env python3
"""Local IAM/STS test endpoint for bedkey's integration tests.

moto (pinned in requirements.txt) provides users, policies and STS, but not the
ServiceSpecificCredential API that Bedrock long-term API keys are built on, so
those five actions are emulated here and everything else is proxied to an
in-process moto server.  Point the SDK at it with AWS_ENDPOINT_URL_IAM (and
AWS_ENDPOINT_URL_STS) = the printed URL.

Usage:
    python3 iam_server.py [--port 0] [--exit-on-stdin-eof] [--verbose]

Prints exactly one line `listening on http://127.0.0.1:PORT` once ready.

Control API (plain JSON over HTTP, never used by the SDK):
    POST   /_control/fail          {"action", "code", "status", "message", "times", "delay_ms",
                                    "mode"}
    POST   /_control/throttle      {"action", "times"}   -> 400 Throttling "Rate exceeded"
    POST   /_control/reset         clear faults and the request log
                                   ({"credentials": true} also wipes stored credentials)
    GET    /_control/credentials   stored credentials, without secrets
    POST   /_control/aliases       {"style": "plus" | "after-account" | "plain"}: how the
                                   aliases of new credentials look (default "plus")
    POST   /_control/paging        {"mode": "no-marker" | "same-marker" | null}: every
                                   listing says it goes on, with no marker or the same one
    DELETE /_control/credentials/<id>   out-of-band delete (console simulation)
    PATCH  /_control/credentials/<id>   {"created", "expires", "status"} e.g. to force expiry
    POST   /_control/seed          {"users", "per_user", "prefix", "age_days", "user"}:
                                   Bedrock credentials for users PREFIX-0.. (or for
                                   "user" alone; no moto user needed)
    POST   /_control/org           {"accounts": N}: an organization (moto's) of this account
                                   and N members; answers {"accounts": [ids]}, management first
    POST   /_control/moto          {"account", "service": "iam"|"sts", "params"}: one query call
                                   run by moto inside an account (users, keys, roles there)
    DELETE /_control/cloudtrail    forget every CloudTrail event (a session's not delivered yet)
    GET    /_control/requests      every API action received, in order
    GET    /_control/health
"action" may be "*" to match every API action.  "times": -1 means forever.  A fault
with "account" matches only calls that act in that account (AssumeRole: the role's).

Credentials are kept per account (the caller's, as STS says).  Sessions that
AssumeRole and GetSessionToken hand out are remembered: GetAccessKeyInfo answers their
account, and every call made with one becomes a CloudTrail event that LookupEvents
(by AccessKeyId, the caller's account only) returns.

Without "mode", a fault answers with the error (after "delay_ms") and the action
never runs; with only "delay_ms" it merely slows the action down.  "mode" makes
a fault act first and then misbehave, to simulate a reply lost after a
non-idempotent call (e.g. CreateServiceSpecificCredential) took effect; this
works for the emulated actions and for those proxied to moto alike:
    "drop_after"     run the action, then close the connection without a response
    "500_after"      run the action, then answer "status" (500) with an IAM error
                     "code" (ServiceFailure) and "message"
    "garbled_after"  run the action, then answer 200 text/xml with only the first
                     40% of the real body (correct Content-Length), so parsing fails
    "hang"           do not run the action; hold the request unanswered for
                     "delay_ms" (default 600000) or until shutdown, then close
The action's own outcome (success or error) shows only in the server's state.

Aliases follow real keys (public decoders of them): a user's first credential for a
service is "USER-at-ACCOUNT", every later one "USER+N-at-ACCOUNT" (N counts the
user's credentials for that service so far), so two keys of one user differ in
alias.  "after-account" instead puts a per-credential suffix after the account
("USER-at-ACCOUNT-1a2b3c"); "plain" gives every credential "USER-at-ACCOUNT".
For the "*_after" modes a "delay_ms" is spent after acting, before misbehaving.
"""

import argparse
import base64
import datetime as dt
import http.client
import json
import logging
import os
import re
import secrets
import signal
import socket
import string
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

# Must be set before moto builds its IAM backend, otherwise AWS managed policies
# such as AmazonBedrockLimitedAccess do not exist.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
import moto.iam.models as moto_iam_models  # noqa: E402

# IAM's "API keys for AWS services" page names AnthropicInferenceAccess as Claude
# Platform's key policy; moto's snapshot of managed policies predates it. Added before
# moto builds its backend, with the actions the platform's keys use.
_managed = json.loads(moto_iam_models.aws_managed_policies_data)
_managed.setdefault("AnthropicInferenceAccess", {
    "CreateDate": "2026-11-01T00:00:00+00:00",
    "DefaultVersionId": "v1",
    "Document": {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AnthropicInference",
            "Effect": "Allow",
            "Action": [
                "aws-external-anthropic:CallWithBearerToken",
                "aws-external-anthropic:CreateInference",
                "aws-external-anthropic:CountTokens",
                "aws-external-anthropic:Get*",
                "aws-external-anthropic:List*",
            ],
            "Resource": "*",
        }],
    },
    "IsAttachable": True,
    "Path": "/",
    "UpdateDate": "2026-11-01T00:00:00+00:00",
})
moto_iam_models.aws_managed_policies_data = json.dumps(_managed)

ACCOUNT_ID = "123456789012"  # moto's default account
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# "API keys for AWS services": each service's long-term keys, by prefix (Bedrock's
# ABSK and Claude Platform's AEAA as real keys have them; the CloudWatch ones are
# listed by audits only, and their secrets here are placeholders).
KEY_PREFIXES = {
    "bedrock.amazonaws.com": "ABSK",
    "aws-external-anthropic.amazonaws.com": "AEAA",
    "logs.amazonaws.com": "ABSK",
    "cloudwatch.amazonaws.com": "ACWK",
}
API_KEY_SERVICES = set(KEY_PREFIXES)
PASSWORD_SERVICES = {"codecommit.amazonaws.com", "cassandra.amazonaws.com"}
SUPPORTED_SERVICES = API_KEY_SERVICES | PASSWORD_SERVICES
MAX_PER_USER_PER_SERVICE = 2

OWN_ACTIONS = {
    "CreateServiceSpecificCredential",
    "ListServiceSpecificCredentials",
    "UpdateServiceSpecificCredential",
    "ResetServiceSpecificCredential",
    "DeleteServiceSpecificCredential",
}

USER_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
CRED_ID_RE = re.compile(r"^\w{20,128}$")
# /_control/fail "mode" values; see the module docstring.
AFTER_MODES = {"drop_after", "500_after", "garbled_after"}
FAULT_MODES = AFTER_MODES | {"hang"}
HANG_DEFAULT_MS = 600_000
GARBLE_FRACTION = 0.4  # any strict prefix of an XML document fails to parse
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "te", "trailer", "upgrade", "content-length",
}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def validation(msg):
    return ApiError(400, "ValidationError", msg)


def now():
    # IAM timestamps have whole-second precision.
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def parse_iso(s):
    if s is None:
        return None
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def rand_upper(n):
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


ALIAS_STYLES = {"plus", "after-account", "plain"}


def alias_for(user, service, account):
    """The alias of a new credential of `user` for `service` (call with STATE.lock held)."""
    key = (account, user.lower(), service)
    n = STATE.made.get(key, 0)
    STATE.made[key] = n + 1
    style = STATE.alias_style
    if style == "after-account":
        return f"{user}-at-{account}-{secrets.token_hex(3)}"
    if style == "plus" and n > 0:
        return f"{user}+{n}-at-{account}"
    return f"{user}-at-{account}"


class Credential:
    def __init__(self, user, service, age_days, account=ACCOUNT_ID):
        self.id = "ACCA" + rand_upper(17)
        self.account = account
        self.user = user
        self.service = service
        self.status = "Active"
        self.created = now()
        self.expires = self.created + dt.timedelta(days=age_days) if age_days else None
        if service in API_KEY_SERVICES:
            self.alias = alias_for(user, service, account)
            self.service_user_name = None
        else:
            self.alias = None
            self.service_user_name = f"{user}-at-{account}"
        self.secret = None
        self.regenerate()

    def regenerate(self):
        if self.alias:
            # The long-term key format: prefix ("ABSK", "AEAA") + base64("<alias>:<secret>").
            raw = f"{self.alias}:{base64.b64encode(secrets.token_bytes(30)).decode()}"
            self.secret = KEY_PREFIXES[self.service] + base64.b64encode(raw.encode()).decode()
        else:
            self.secret = base64.b64encode(secrets.token_bytes(33)).decode()

    def effective_status(self):
        if self.expires and self.expires <= now():
            return "Expired"
        return self.status

    def xml(self, element, with_secret):
        parts = [f"<{element}>"]

        def add(tag, val):
            if val is not None:
                parts.append(f"<{tag}>{escape(val)}</{tag}>")

        add("CreateDate", iso(self.created))
        add("ExpirationDate", iso(self.expires))
        add("ServiceName", self.service)
        add("ServiceUserName", self.service_user_name)
        if with_secret and not self.alias:
            add("ServicePassword", self.secret)
        add("ServiceCredentialAlias", self.alias)
        if with_secret and self.alias:
            add("ServiceCredentialSecret", self.secret)
        add("ServiceSpecificCredentialId", self.id)
        add("UserName", self.user)
        add("Status", self.effective_status())
        parts.append(f"</{element}>")
        return "".join(parts)

    def control_json(self):
        return {
            "id": self.id,
            "account": self.account,
            "user": self.user,
            "service": self.service,
            "status": self.effective_status(),
            "created": iso(self.created),
            "expires": iso(self.expires),
            "alias": self.alias,
        }


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.creds = {}  # id -> Credential, insertion order = creation order
        self.faults = []  # dicts; matched first-come first-served
        self.requests = []
        # Accounts: which account each access key belongs to (moto's answer, or a
        # session's role), the sessions AssumeRole and GetSessionToken handed out (what
        # CloudTrail's LookupEvents finds them by), and a key the server itself uses
        # for moto calls inside each account.
        self.key_accounts = {}
        self.sessions = {}  # access key id -> {"account", "arn", "issuer", "type", "issued"}
        self.events = []  # CloudTrail events, newest last
        self.account_keys = {}
        self.org_accounts = []  # every account of the organization, management first
        self.moto_port = None
        # Aliases: the style of new ones, and how many credentials each (user,
        # service) has had, for the "+N" of later ones.
        self.alias_style = "plus"
        self.made = {}
        # /_control/paging: None, or how listings misbehave ("no-marker", "same-marker").
        self.paging = None
        # Set at shutdown, so "hang" faults let go of their connections promptly.
        self.stopping = threading.Event()


STATE = State()


# ---------------------------------------------------------------- moto access

def moto_request(method, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", STATE.moto_port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        has_host = False
        for k, v in headers:
            if k.lower() in HOP_BY_HOP:
                continue
            has_host = has_host or k.lower() == "host"
            conn.putheader(k, v)
        if not has_host:
            conn.putheader("Host", f"127.0.0.1:{STATE.moto_port}")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def moto_call(service, params, access_key):
    """Internal query-API call; moto routes on the SigV4 scope and ignores the signature."""
    body = urlencode(params).encode()
    stamp = now().strftime("%Y%m%d")
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Date", now().strftime("%Y%m%dT%H%M%SZ")),
        ("Authorization",
         f"AWS4-HMAC-SHA256 Credential={access_key}/{stamp}/us-east-1/{service}/aws4_request, "
         f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"),
    ]
    status, _, data = moto_request("POST", "/", headers, body)
    return status, data


def xml_find(data, tag):
    try:
        el = ET.fromstring(data).find(f".//{{*}}{tag}")
    except ET.ParseError:
        return None
    return el.text if el is not None else None


def canonical_user(name, access_key):
    """User's canonical name from moto, or NoSuchEntity like real IAM."""
    status, data = moto_call("iam", {"Action": "GetUser", "Version": "2010-05-08",
                                     "UserName": name}, access_key)
    if status == 200:
        return xml_find(data, "UserName") or name
    if status == 404:
        raise ApiError(404, "NoSuchEntity", f"The user with name {name} cannot be found.")
    raise ApiError(500, "ServiceFailure", f"backend GetUser failed with HTTP {status}")


def caller_account(access_key):
    """The account an access key belongs to: a session's own, else moto's answer."""
    with STATE.lock:
        known = STATE.key_accounts.get(access_key)
    if known:
        return known
    status, data = moto_call("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                             access_key)
    account = (xml_find(data, "Account") if status == 200 else None) or ACCOUNT_ID
    with STATE.lock:
        STATE.key_accounts[access_key] = account
    return account


def key_in(account):
    """An access key of `account` for the server's own moto calls (a session of a role
    there: moto lets any role be assumed)."""
    with STATE.lock:
        known = STATE.account_keys.get(account)
    if known:
        return known
    if account == ACCOUNT_ID:
        return "AKIAIOSFODNN7EXAMPLE"
    status, data = moto_call("sts", {
        "Action": "AssumeRole", "Version": "2011-06-15",
        "RoleArn": f"arn:aws:iam::{account}:role/bedkey-test-server",
        "RoleSessionName": "test-server"}, "AKIAIOSFODNN7EXAMPLE")
    ak = xml_find(data, "AccessKeyId")
    if status != 200 or not ak:
        raise ApiError(500, "ServiceFailure", f"test server cannot act in account {account}")
    with STATE.lock:
        STATE.account_keys[account] = ak
        STATE.key_accounts[ak] = account
    return ak


def caller_user(access_key):
    """IAM user name behind the caller's access key, None for roots/roles."""
    status, data = moto_call("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                             access_key)
    arn = xml_find(data, "Arn") if status == 200 else None
    m = re.match(r"^arn:aws:iam::\d{12}:user/(?:.*/)?([^/]+)$", arn or "")
    return m.group(1) if m else None


# ---------------------------------------------------------------- XML helpers

def ok_xml(action, result_inner):
    rid = str(uuid.uuid4())
    result = f"<{action}Result>{result_inner}</{action}Result>" if result_inner is not None else ""
    body = (f'<{action}Response xmlns="{IAM_NS}">{result}'
            f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
            f"</{action}Response>")
    return 200, rid, body


def error_xml(err, ns=IAM_NS):
    rid = str(uuid.uuid4())
    fault = "Sender" if err.status < 500 else "Receiver"
    body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>{fault}</Type>'
            f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
    return err.status, rid, body


def error_ns(params):
    # STS and IAM errors differ only in the namespace; STS calls carry its API version.
    return STS_NS if params.get("Version") == "2011-06-15" else IAM_NS


def xml_reply(triple):
    """An ok_xml/error_xml triple as (status, headers, body), the shape moto_request returns."""
    status, rid, body = triple
    return status, [("x-amzn-RequestId", rid), ("Content-Type", "text/xml")], body


# ---------------------------------------------------------------- validation

def required(p, key, field):
    v = p.get(key)
    if v is None:
        raise validation(f"1 validation error detected: Value null at '{field}' "
                         "failed to satisfy constraint: Member must not be null")
    return v


def check_user_name(v):
    if v is not None and not USER_NAME_RE.match(v):
        raise validation(f"1 validation error detected: Value '{v}' at 'userName' failed to "
                         "satisfy constraint: Member must satisfy regular expression pattern: "
                         "[\\w+=,.@-]+ and length 1..64")
    return v


def check_cred_id(v):
    if not CRED_ID_RE.match(v):
        raise validation(f"1 validation error detected: Value '{v}' at "
                         "'serviceSpecificCredentialId' failed to satisfy constraint: Member "
                         "must satisfy regular expression pattern: [\\w]+ and length 20..128")
    return v


def int_param(p, key, field, lo, hi):
    v = p.get(key)
    if v is None:
        return None
    try:
        n = int(v)
    except ValueError:
        raise validation(f"Invalid value '{v}' for {key}: expected integer")
    if n < lo:
        raise validation(f"1 validation error detected: Value '{n}' at '{field}' failed to "
                         f"satisfy constraint: Member must have value greater than or equal to {lo}")
    if n > hi:
        raise validation(f"1 validation error detected: Value '{n}' at '{field}' failed to "
                         f"satisfy constraint: Member must have value less than or equal to {hi}")
    return n


def check_service(svc):
    if svc not in SUPPORTED_SERVICES:
        raise ApiError(404, "NotSupportedService",
                       f"No such service {svc} is supported for Service-Specific Credentials")


def resolve_user(p, access_key):
    """Explicit UserName (must exist) or, as IAM does, the calling IAM user."""
    name = check_user_name(p.get("UserName"))
    if name is not None:
        return canonical_user(name, access_key)
    me = caller_user(access_key)
    if me is None:
        raise validation("Must specify userName when calling with non-User credentials")
    return me


def find_cred(cred_id, user, account):
    c = STATE.creds.get(cred_id)
    if c is None or c.account != account or c.user.lower() != user.lower():
        raise ApiError(404, "NoSuchEntity",
                       f"The Service Specific Credential with id {cred_id} cannot be found.")
    return c


# ---------------------------------------------------------------- actions

def create(p, ak):
    name = check_user_name(required(p, "UserName", "userName"))
    svc = required(p, "ServiceName", "serviceName")
    age = int_param(p, "CredentialAgeDays", "credentialAgeDays", 1, 36600)
    check_service(svc)
    if age is not None and svc not in API_KEY_SERVICES:
        raise validation("CredentialAgeDays is only valid for API keys for AWS services")
    user = canonical_user(name, ak)
    account = caller_account(ak)
    with STATE.lock:
        n = sum(1 for c in STATE.creds.values()
                if c.account == account and c.user.lower() == user.lower() and c.service == svc)
        if n >= MAX_PER_USER_PER_SERVICE:
            raise ApiError(409, "LimitExceeded",
                           "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                           f"{MAX_PER_USER_PER_SERVICE}")
        c = Credential(user, svc, age, account)
        STATE.creds[c.id] = c
        return c.xml("ServiceSpecificCredential", with_secret=True)


def list_(p, ak):
    svc = p.get("ServiceName")
    all_users = (p.get("AllUsers") or "false").lower() == "true"
    max_items = int_param(p, "MaxItems", "maxItems", 1, 1000) or 100
    marker = p.get("Marker")
    if all_users and p.get("UserName") is not None:
        raise validation("AllUsers cannot be specified together with UserName")
    if svc is not None:
        check_service(svc)
    user = None if all_users else resolve_user(p, ak)
    account = caller_account(ak)
    start = 0
    if marker is not None:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode().split(":", 1)[1])
        except Exception:
            raise validation("Invalid Marker")
    with STATE.lock:
        items = [c for c in STATE.creds.values()
                 if c.account == account
                 and (user is None or c.user.lower() == user.lower())
                 and (svc is None or c.service == svc)]
        page = items[start:start + max_items]
        truncated = start + max_items < len(items)
        out = ["<ServiceSpecificCredentials>"]
        out += [c.xml("member", with_secret=False) for c in page]
        out.append("</ServiceSpecificCredentials>")
    broken = STATE.paging
    if broken:
        # A listing that never ends: more to come, and no marker or the same one.
        truncated = True
    out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and broken != "no-marker":
        next_start = start if broken == "same-marker" and marker else start + max_items
        tok = base64.urlsafe_b64encode(f"o:{next_start}".encode()).decode()
        out.append(f"<Marker>{tok}</Marker>")
    return "".join(out)


def update(p, ak):
    cred_id = check_cred_id(required(p, "ServiceSpecificCredentialId",
                                     "serviceSpecificCredentialId"))
    status = required(p, "Status", "status")
    if status not in ("Active", "Inactive"):
        raise validation(f"1 validation error detected: Value '{status}' at 'status' failed to "
                         "satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
    user = resolve_user(p, ak)
    account = caller_account(ak)
    with STATE.lock:
        find_cred(cred_id, user, account).status = status
    return None


def reset(p, ak):
    cred_id = check_cred_id(required(p, "ServiceSpecificCredentialId",
                                     "serviceSpecificCredentialId"))
    user = resolve_user(p, ak)
    account = caller_account(ak)
    with STATE.lock:
        c = find_cred(cred_id, user, account)
        c.regenerate()
        return c.xml("ServiceSpecificCredential", with_secret=True)


def delete(p, ak):
    cred_id = check_cred_id(required(p, "ServiceSpecificCredentialId",
                                     "serviceSpecificCredentialId"))
    user = resolve_user(p, ak)
    account = caller_account(ak)
    with STATE.lock:
        find_cred(cred_id, user, account)
        del STATE.creds[cred_id]
    return None


def make_org(members):
    """moto's Organizations, called as the management account (the default one)."""
    with STATE.lock:
        if STATE.org_accounts:
            return list(STATE.org_accounts)

    def org(target, body):
        stamp = now().strftime("%Y%m%d")
        status, _, data = moto_request("POST", "/", [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", f"AWSOrganizationsV20161128.{target}"),
            ("X-Amz-Date", now().strftime("%Y%m%dT%H%M%SZ")),
            ("Authorization", f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{stamp}/"
             "us-east-1/organizations/aws4_request, SignedHeaders=host, Signature=0"),
        ], json.dumps(body).encode())
        if status != 200:
            raise ApiError(500, "ServiceFailure", f"moto {target}: {status} {data[:200]!r}")
        return json.loads(data)

    org("CreateOrganization", {"FeatureSet": "ALL"})
    accounts = [ACCOUNT_ID]
    for n in range(members):
        made = org("CreateAccount", {"AccountName": f"member-{n}",
                                      "Email": f"member-{n}@example.com"})
        accounts.append(made["CreateAccountStatus"]["AccountId"])
    with STATE.lock:
        STATE.org_accounts = accounts
    return list(accounts)


def record_session(action, params, caller_key, reply):
    """Remembers a session AssumeRole or GetSessionToken handed out, as CloudTrail
    would know it: its account, its principal, and the role that issued it."""
    new_key = xml_find(reply, "AccessKeyId")
    if not new_key:
        return
    if action == "AssumeRole":
        role_arn = params.get("RoleArn", "")
        m = re.match(r"^arn:([\w-]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$", role_arn)
        if not m:
            return
        partition, account, role = m.groups()
        session = {"type": "AssumedRole", "account": account, "issuer": role_arn,
                   "arn": f"arn:{partition}:sts::{account}:assumed-role/{role}/"
                          f"{params.get('RoleSessionName', '')}"}
    else:
        account = caller_account(caller_key)
        user = caller_user(caller_key)
        session = {"type": "IAMUser", "account": account, "issuer": None,
                   "arn": f"arn:aws:iam::{account}:user/{user}"}
    session["issued"] = iso(now())
    with STATE.lock:
        STATE.sessions[new_key] = session
        STATE.key_accounts[new_key] = account


def lookup_events(req, ak):
    """CloudTrail LookupEvents by AccessKeyId: the calls a session made, in the
    caller's account, newest first, in CloudTrail's shape."""
    attrs = req.get("LookupAttributes") or []
    if len(attrs) != 1 or attrs[0].get("AttributeKey") != "AccessKeyId":
        return json_error(400, "InvalidLookupAttributesException",
                          "this test server looks events up by AccessKeyId only")
    wanted = attrs[0].get("AttributeValue", "")
    account = caller_account(ak)
    with STATE.lock:
        found = [e for e in STATE.events
                 if e["key"] == wanted and e["session"]["account"] == account]
    events = []
    for e in reversed(found[-50:]):
        s = e["session"]
        identity = {"type": s["type"], "arn": s["arn"], "accountId": s["account"],
                    "accessKeyId": wanted,
                    "sessionContext": {"attributes": {"creationDate": s["issued"],
                                                      "mfaAuthenticated": "false"}}}
        if s["issuer"]:
            identity["sessionContext"]["sessionIssuer"] = {
                "type": "Role", "arn": s["issuer"], "accountId": s["account"],
                "userName": s["issuer"].rsplit("/", 1)[-1]}
        record = {"eventVersion": "1.09", "userIdentity": identity,
                  "eventTime": iso(e["time"]), "eventName": e["action"],
                  "awsRegion": "us-east-1", "eventID": str(uuid.uuid4())}
        events.append({"EventId": record["eventID"], "EventName": e["action"],
                       "ReadOnly": "true", "AccessKeyId": wanted,
                       "EventTime": e["time"].timestamp(), "EventSource": "sts.amazonaws.com",
                       "Username": s["arn"].rsplit("/", 1)[-1],
                       "Resources": [], "CloudTrailEvent": json.dumps(record)})
    return 200, [("Content-Type", "application/x-amz-json-1.1"),
                 ("x-amzn-RequestId", str(uuid.uuid4()))], json.dumps({"Events": events})


def json_error(status, code, message):
    return status, [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", str(uuid.uuid4()))], json.dumps(
                        {"__type": code, "message": message})


HANDLERS = {
    "CreateServiceSpecificCredential": create,
    "ListServiceSpecificCredentials": list_,
    "UpdateServiceSpecificCredential": update,
    "ResetServiceSpecificCredential": reset,
    "DeleteServiceSpecificCredential": delete,
}


# ---------------------------------------------------------------- HTTP

def access_key_of(headers, query):
    m = re.search(r"Credential=([^/,\s]+)/", headers.get("Authorization", ""))
    if m:
        return m.group(1)
    return query.get("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE").split("/")[0]


def take_fault(action, account_of):
    """The first fault that matches the action (and, for a fault with an "account",
    the account the call acts in: `account_of()`, asked only then)."""
    with STATE.lock:
        wants_account = any(f.get("account") for f in STATE.faults)
    account = account_of() if wants_account else None
    with STATE.lock:
        for f in STATE.faults:
            if f.get("account") and f["account"] != account:
                continue
            if f["action"] in (action, "*") and f["times"] != 0:
                if f["times"] > 0:
                    f["times"] -= 1
                return dict(f)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK pools connections
    server_version = "bedkey-iam-test"
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("iam_server: " + (fmt % args) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status, body, ctype, headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        sent = set()
        for k, v in headers:
            if k.lower() in HOP_BY_HOP or k.lower() in ("server", "date"):
                continue
            sent.add(k.lower())
            self.send_header(k, v)
        if ctype and "content-type" not in sent:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_xml(self, triple):
        status, rid, body = triple
        self.send(status, body, "text/xml", [("x-amzn-RequestId", rid)])

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj, indent=1), "application/json")

    def dispatch(self):
        try:
            body = self.read_body()
            url = urlsplit(self.path)
            if url.path.startswith("/_control/") or url.path == "/_control":
                return self.control(url.path, body)
            return self.api(url, body)
        except Exception as e:  # never let a test see a dropped connection
            logging.exception("iam_server: unhandled error")
            self.send_xml(error_xml(ApiError(500, "ServiceFailure", f"test server bug: {e}")))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = dispatch

    # -- API

    def api(self, url, body):
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        params = dict(query)
        ctype = self.headers.get("Content-Type", "")
        if self.command == "POST" and "x-www-form-urlencoded" in ctype:
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[0] for k, v in form.items()})
        action = params.get("Action")
        # Secrets Manager speaks JSON: its action is named by X-Amz-Target.
        target = self.headers.get("X-Amz-Target", "")
        self.json_api = bool(target) and not action
        if self.json_api:
            action = target.rsplit(".", 1)[-1]
        fault = None
        ak = access_key_of(self.headers, query)
        if action:
            with STATE.lock:
                STATE.requests.append({"action": action, "params": params, "time": iso(now())})
                session = STATE.sessions.get(ak)
                if session:
                    # CloudTrail records what a session does, by its access key.
                    STATE.events.append({"key": ak, "action": action, "time": now(),
                                         "session": dict(session)})

            def account_of():
                if action == "AssumeRole":
                    m = re.match(r"^arn:[\w-]+:iam::(\d{12}):", params.get("RoleArn", ""))
                    return m.group(1) if m else None
                return caller_account(ak)
            fault = take_fault(action, account_of)
        mode = fault.get("mode") if fault else None
        if fault and mode is None:
            # Classic fault: wait and/or fail before the action runs.
            if fault.get("delay_ms"):
                threading.Event().wait(fault["delay_ms"] / 1000)
            if fault.get("code"):
                return self.send_error_reply(
                    ApiError(fault["status"], fault["code"], fault["message"]), params)
        if mode == "hang":
            # A service that never answers: nothing happens, so a retry is safe.
            STATE.stopping.wait(fault["delay_ms"] / 1000)
            return self.drop()
        reply = self.perform(action, params, query, body)
        if mode is None:
            status, headers, data = reply
            return self.send(status, data, None, headers)
        if fault.get("delay_ms"):
            STATE.stopping.wait(fault["delay_ms"] / 1000)
        self.misbehave(fault, params, reply)

    def perform(self, action, params, query, body):
        """Runs the action for real; returns the genuine reply as (status, headers, body)."""
        ak = access_key_of(self.headers, query)
        try:
            if action in HANDLERS:
                return xml_reply(ok_xml(action, HANDLERS[action](params, ak)))
            if action == "LookupEvents" and self.json_api:
                return lookup_events(json.loads(body or b"{}"), ak)
            if action == "GetAccessKeyInfo":
                with STATE.lock:
                    session = STATE.sessions.get(params.get("AccessKeyId", ""))
                if session:
                    rid = str(uuid.uuid4())
                    return xml_reply((200, rid,
                        f'<GetAccessKeyInfoResponse xmlns="{STS_NS}"><GetAccessKeyInfoResult>'
                        f'<Account>{session["account"]}</Account></GetAccessKeyInfoResult>'
                        f'<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>'
                        '</GetAccessKeyInfoResponse>'))
            if action == "DeleteUser" and params.get("UserName"):
                # Real IAM refuses to delete a user that still owns credentials.
                with STATE.lock:
                    busy = any(c.user.lower() == params["UserName"].lower()
                               for c in STATE.creds.values())
                if busy:
                    raise ApiError(409, "DeleteConflict", "Cannot delete entity, must delete "
                                   "service specific credentials first.")
        except ApiError as e:
            return xml_reply(error_xml(e))
        reply = moto_request(self.command, self.path, self.headers.items(), body)
        if action in ("AssumeRole", "GetSessionToken") and reply[0] == 200:
            record_session(action, params, ak, reply[2])
        return reply

    def misbehave(self, fault, params, reply):
        """Replaces the genuine reply of an action that has already run, per the fault's mode."""
        mode = fault["mode"]
        if mode == "drop_after":
            return self.drop()
        if mode == "500_after":
            return self.send_error_reply(
                ApiError(fault["status"], fault["code"], fault["message"]), params)
        assert mode == "garbled_after", mode
        # Success status and a well-formed HTTP message, but the body cut short: only
        # the client's parser can notice.
        _, headers, data = reply
        if isinstance(data, str):
            data = data.encode()
        rid = [(k, v) for k, v in headers if k.lower() == "x-amzn-requestid"]
        ctype = "application/x-amz-json-1.1" if self.json_api else "text/xml"
        self.send(200, data[:int(len(data) * GARBLE_FRACTION)], ctype, rid[:1])

    def send_error_reply(self, err, params):
        """An AWS error in the protocol of the call: JSON for Secrets Manager, else XML."""
        if not self.json_api:
            return self.send_xml(error_xml(err, error_ns(params)))
        body = json.dumps({"__type": err.code, "message": err.message})
        self.send(err.status, body, "application/x-amz-json-1.1",
                  [("x-amzn-RequestId", str(uuid.uuid4()))])

    def drop(self):
        """Ends the connection with nothing sent, so the client sees EOF instead of a reply."""
        self.close_connection = True  # stop the keep-alive loop reading further requests
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client has hung up already, e.g. after timing out on a "hang"

    # -- control

    def control(self, path, body):
        try:
            req = json.loads(body) if body.strip() else {}
        except ValueError:
            return self.send_json(400, {"error": "body must be JSON"})
        m = self.command
        if path == "/_control/health" and m == "GET":
            return self.send_json(200, {"ok": True, "account_id": ACCOUNT_ID})
        if path in ("/_control/fail", "/_control/throttle") and m == "POST":
            if "action" not in req:
                return self.send_json(400, {"error": "missing 'action'"})
            throttle = path.endswith("throttle")
            mode = req.get("mode")
            if mode is not None and (throttle or mode not in FAULT_MODES):
                return self.send_json(400, {"error": "'mode' must be one of "
                                            f"{sorted(FAULT_MODES)}, on /_control/fail only"})
            delay_only = (not throttle and mode is None and "code" not in req
                          and req.get("delay_ms"))
            fault = {
                "action": req["action"],
                "code": None if delay_only else
                req.get("code", "Throttling" if throttle else "ServiceFailure"),
                "status": int(req.get("status", 400 if throttle else 500)),
                "message": req.get("message", "Rate exceeded" if throttle else "injected failure"),
                "times": int(req.get("times", 1)),
                "delay_ms": int(req.get("delay_ms", HANG_DEFAULT_MS if mode == "hang" else 0)),
                "mode": mode,
                "account": req.get("account"),
            }
            with STATE.lock:
                STATE.faults.append(fault)
            return self.send_json(200, fault)
        if path == "/_control/reset" and m == "POST":
            with STATE.lock:
                STATE.faults.clear()
                STATE.requests.clear()
                STATE.events.clear()
                STATE.paging = None
                if req.get("credentials"):
                    STATE.creds.clear()
                    STATE.made.clear()
                    STATE.alias_style = "plus"
            return self.send_json(200, {"ok": True})
        if path == "/_control/seed" and m == "POST":
            # Bedrock credentials for users that need not exist in moto: for
            # account-wide listings (audit) at scale, without thousands of calls.
            users = int(req.get("users", 1))
            per_user = int(req.get("per_user", 1))
            prefix = req.get("prefix", "seeded")
            days = req.get("age_days")
            service = req.get("service", "bedrock.amazonaws.com")
            account = req.get("account", ACCOUNT_ID)
            if service not in API_KEY_SERVICES:
                return self.send_json(400, {"error": f"'service' must be one of {sorted(API_KEY_SERVICES)}"})
            made = []
            with STATE.lock:
                for u in range(users):
                    for _ in range(min(per_user, MAX_PER_USER_PER_SERVICE)):
                        owner = req.get("user") or f"{prefix}-{u}"
                        c = Credential(owner, service, days, account)
                        STATE.creds[c.id] = c
                        made.append(c)
            # The keys too: a test of a leaked key needs one whose credential exists.
            return self.send_json(200, {"created": len(made), "ids": [c.id for c in made],
                                        "keys": [c.secret for c in made]})
        if path == "/_control/org" and m == "POST":
            # An organization of the default account and N member accounts (moto's
            # Organizations); answers every account id, the management account first.
            try:
                return self.send_json(200, {"accounts": make_org(int(req.get("accounts", 3)))})
            except ApiError as e:
                return self.send_json(500, {"error": e.message})
        if path == "/_control/moto" and m == "POST":
            # One IAM (or STS) query call run by moto inside an account: users, access
            # keys, groups and policies there. Answers moto's status and XML.
            service = req.get("service", "iam")
            version = "2011-06-15" if service == "sts" else "2010-05-08"
            params = {"Version": version, **req.get("params", {})}
            status, data = moto_call(service, params, key_in(req.get("account", ACCOUNT_ID)))
            return self.send_json(200, {"status": status, "body": data.decode()})
        if path == "/_control/cloudtrail" and m == "DELETE":
            # CloudTrail that knows nothing (a session's events not delivered yet).
            with STATE.lock:
                STATE.events.clear()
            return self.send_json(200, {"ok": True})
        if path == "/_control/aliases" and m == "POST":
            if req.get("style") not in ALIAS_STYLES:
                return self.send_json(400, {"error": f"'style' must be one of {sorted(ALIAS_STYLES)}"})
            with STATE.lock:
                STATE.alias_style = req["style"]
            return self.send_json(200, {"style": req["style"]})
        if path == "/_control/paging" and m == "POST":
            if req.get("mode") not in ("no-marker", "same-marker", None):
                return self.send_json(400, {"error": "'mode' must be no-marker, same-marker or null"})
            with STATE.lock:
                STATE.paging = req.get("mode")
            return self.send_json(200, {"mode": req.get("mode")})
        if path == "/_control/requests" and m == "GET":
            with STATE.lock:
                return self.send_json(200, list(STATE.requests))
        if path == "/_control/credentials" and m == "GET":
            with STATE.lock:
                return self.send_json(200, [c.control_json() for c in STATE.creds.values()])
        cm = re.match(r"^/_control/credentials/(\w+)$", path)
        if cm and m in ("DELETE", "PATCH"):
            with STATE.lock:
                c = STATE.creds.get(cm.group(1))
                if c is None:
                    return self.send_json(404, {"error": "no such credential"})
                if m == "DELETE":
                    del STATE.creds[c.id]
                    return self.send_json(200, c.control_json())
                try:
                    if "created" in req:
                        c.created = parse_iso(req["created"])
                    if "expires" in req:
                        c.expires = parse_iso(req["expires"])
                except (ValueError, AttributeError):
                    return self.send_json(400, {"error": "timestamps must be ISO 8601"})
                if "status" in req:
                    if req["status"] not in ("Active", "Inactive"):
                        return self.send_json(400, {"error": "status must be Active|Inactive"})
                    c.status = req["status"]
                return self.send_json(200, c.control_json())
        return self.send_json(404, {"error": f"unknown control endpoint {m} {path}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    Handler.verbose = args.verbose

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    STATE.moto_port = moto.get_host_and_port()[1]
    # Build moto's IAM backend (managed-policy load takes a moment) before
    # announcing readiness, so the first test request is not slow.
    moto_call("iam", {"Action": "ListUsers", "Version": "2010-05-08"}, "AKIAIOSFODNN7EXAMPLE")

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    stop = STATE.stopping

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        def watch_stdin():
            # Raw os.read: a daemon thread blocked in sys.stdin.buffer would
            # abort interpreter shutdown with a lock error.
            try:
                while os.read(sys.stdin.fileno(), 4096):
                    pass
            finally:
                stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"listening on http://127.0.0.1:{httpd.server_address[1]}", flush=True)

    while not stop.wait(0.5):  # timed wait so signal handlers run promptly
        pass
    httpd.shutdown()
    httpd.server_close()
    moto.stop()


if __name__ == "__main__":
    main()
