#!/usr/bin/env python3
"""A stand-in for Bedrock (control plane, runtime and Mantle) and Claude Platform on AWS over HTTPS on 127.0.0.1, for tests.

botocore refuses bearer tokens over plain HTTP, so this serves TLS with a
certificate from a CA made at start-up (written to --cert for AWS_CA_BUNDLE).

Hosts: one server stands for all four. A path may start with /host-runtime,
/host-control, /host-mantle or /host-platform to say which host it was sent to (point
AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_ENDPOINT_URL_BEDROCK, AWS_ENDPOINT_URL_BEDROCK_MANTLE
and AWS_ENDPOINT_URL_AWS_EXTERNAL_ANTHROPIC there); then only that
host's operations answer (404 otherwise), which proves where a request went. A path
without a prefix is taken as meant for whichever host has it.

Keys: a request is accepted when its `Authorization: Bearer KEY` or `x-api-key: KEY`
names a key in --expect-key-file (one a line), or, with --accept-short-term, a
short-term key (`bedrock-api-key-…`, `aws-external-anthropic-api-key-…`) that has not
expired by its own X-Amz-Date and X-Amz-Expires. Otherwise 403 AccessDeniedException.
Every request's method, host, path, Authorization, x-api-key and anthropic-workspace-id
headers and time are appended to --log as JSON lines, with whether it was accepted.

Operations:
  GET  /foundation-models                   ListFoundationModels
  GET  /inference-profiles                  ListInferenceProfiles
  POST /model/ID/converse                   Converse
  POST /model/ID/converse-stream            ConverseStream: an AWS event stream; the
       first event, then nothing until POST /_control/go, then the rest, 50 ms apart
       (with no go within 15 s the stream is broken off)
  POST /model/ID/invoke                     InvokeModel: echoes the body's length (an
       Anthropic Messages body gets a message back)
  POST /model/ID/invoke-with-response-stream  an event stream of `chunk` events, each
       an Anthropic Messages stream event in base64, as Claude models answer
  runtime:  POST /openai/v1/chat/completions, /openai/v1/responses; GET /openai/v1/models;
            POST /anthropic/v1/messages
  Mantle:   POST /v1/chat/completions, /v1/responses; GET /v1/models (and the same
            under /openai/v1); POST /anthropic/v1/messages
  Claude Platform on AWS: POST /v1/messages; GET /v1/models
  Chat completions and messages with `"stream": true` answer as server-sent events.
  Every stream sends its first event (an Anthropic one: up to its first text), then nothing until POST /_control/go (unless
  --no-hold), then the rest, 50 ms apart (with no go within 15 s it is broken off).
  POST /_control/go                         (no key needed) releases held streams

Prints exactly one line, `listening on https://127.0.0.1:PORT`, when ready, and
stops when its stdin closes.
"""

import argparse
import base64
import binascii
import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certs(cert_path, key_path):
    """A CA (written to cert_path, for AWS_CA_BUNDLE) and a server certificate for
    127.0.0.1 signed by it (with its key at key_path), as strict verifiers require."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signer, ca):
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("bedrock stand-in CA", "bedrock stand-in CA", ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build("bedrock stand-in", "bedrock stand-in CA", key.public_key(), ca_key, False)
    with open(cert_path, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.write(leaf.public_bytes(serialization.Encoding.PEM))


SHORT_TERM_PREFIXES = ("bedrock-api-key-", "aws-external-anthropic-api-key-")


def short_term_valid(key, now):
    """Whether a short-term key is well formed and unexpired (its signature is not checked)."""
    prefix = next((p for p in SHORT_TERM_PREFIXES if key.startswith(p)), None)
    if prefix is None:
        return False
    try:
        url = base64.b64decode(key[len(prefix):], validate=True).decode()
        query = urllib.parse.parse_qs(url.split("?", 1)[1])
        signed = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        signed = signed.replace(tzinfo=datetime.timezone.utc).timestamp()
        return signed - 300 <= now < signed + int(query["X-Amz-Expires"][0])
    except (ValueError, KeyError, IndexError, binascii.Error, UnicodeDecodeError):
        return False


def event_message(event_type, payload):
    """One AWS event-stream message: prelude, string headers, payload, CRCs."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        n, v = name.encode(), value.encode()
        headers += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


STREAM = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "first"}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " second"}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " third"}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 3, "totalTokens": 6},
                  "metrics": {"latencyMs": 1}}),
]

WORDS = ["first", " second", " third"]
# An Anthropic stream's first text is its third event: held streams send that many
# before they wait, so that a client has text to show.
FIRST_TEXT = 3


def anthropic_message(model):
    return {"id": "msg_standin", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}


def anthropic_events(model):
    """An Anthropic Messages stream, as (event type, data) pairs."""
    start = anthropic_message(model)
    start.update(content=[], stop_reason=None)
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": w}})
               for w in WORDS]
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": 3}}),
               ("message_stop", {"type": "message_stop"})]
    return events


def chat_completion(model):
    return {"id": "chatcmpl-standin", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chat_chunks(model):
    def chunk(delta, finish=None):
        return {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 1,
                "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    chunks = [chunk({"role": "assistant", "content": WORDS[0]})]
    chunks += [chunk({"content": w}) for w in WORDS[1:]]
    chunks.append(chunk({}, "stop"))
    return chunks


def response_object(model):
    return {"id": "resp_standin", "object": "response", "created_at": 1, "status": "completed",
            "model": model, "parallel_tool_calls": False, "tool_choice": "auto", "tools": [],
            "output": [{"type": "message", "id": "msg_standin", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "hello", "annotations": []}]}],
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}


MODELS = {"object": "list", "data": [{"id": "openai.gpt-oss-120b", "object": "model",
                                      "created": 1, "owned_by": "openai"}]}

RUNTIME = "runtime"
CONTROL = "control"
MANTLE = "mantle"
PLATFORM = "platform"


def hosts_of(path):
    """The hosts that have the operations under this path."""
    hosts = set()
    if path.startswith(("/model/", "/openai/v1/", "/anthropic/v1/", "/async-invoke", "/guardrail/")):
        hosts.add(RUNTIME)
    if path.startswith(("/foundation-models", "/inference-profiles")):
        hosts.add(CONTROL)
    if path.startswith(("/v1/", "/openai/v1/", "/anthropic/v1/")):
        hosts.add(MANTLE)
    if path in ("/v1/messages", "/v1/models"):
        hosts.add(PLATFORM)
    return hosts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True, help="where to write the certificate (PEM)")
    ap.add_argument("--log", required=True, help="file to append requests to")
    ap.add_argument("--expect-key-file", help="file holding the accepted keys, one a line")
    ap.add_argument("--accept-short-term", action="store_true",
                    help="also accept any unexpired short-term key")
    ap.add_argument("--no-hold", action="store_true",
                    help="send streams whole, for clients that cannot say go")
    args = ap.parse_args()

    key_path = args.cert + ".key"
    make_certs(args.cert, key_path)
    lock = threading.Lock()
    go = threading.Condition()
    released = [0]  # how many times /_control/go was posted

    def accepted(auth, api_key):
        if auth and api_key:
            return False
        if auth:
            if not auth.startswith("Bearer "):
                return False
            key = auth[len("Bearer "):]
        else:
            key = api_key
        if not key:
            return False
        if args.expect_key_file:
            with open(args.expect_key_file) as f:
                if key in [line.strip() for line in f if line.strip()]:
                    return True
        return args.accept_short_term and short_term_valid(key, time.time())

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Bedrock has it

        def log_message(self, *a):  # keep stderr quiet
            pass

        def reply(self, status, body, kind=None, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if kind:
                self.send_header("x-amzn-ErrorType", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def chunk(self, data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def handle_any(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = self.path
            host = None
            for name in (RUNTIME, CONTROL, MANTLE, PLATFORM):
                prefix = "/host-" + name
                if target == prefix or target.startswith(prefix + "/") or target.startswith(prefix + "?"):
                    host, target = name, target[len(prefix):] or "/"
                    if not target.startswith("/"):
                        target = "/" + target
                    break
            path = urllib.parse.urlsplit(target).path
            if path == "/_control/go":
                with go:
                    released[0] += 1
                    go.notify_all()
                return self.reply(200, {})
            auth = self.headers.get("Authorization", "")
            api_key = self.headers.get("x-api-key", "")
            ok = accepted(auth, api_key)
            with lock, open(args.log, "a") as f:
                f.write(json.dumps({"method": method, "host": host, "path": target,
                                    "authorization": auth, "x_api_key": api_key,
                                    "workspace": self.headers.get("anthropic-workspace-id"),
                                    "accepted": ok, "time": time.time()}) + "\n")
            if not ok:
                return self.reply(403, {"message": "Invalid API Key format"}, "AccessDeniedException")
            if host is not None and host not in hosts_of(path):
                return self.reply(404, {"message": f"{method} {path} is not an operation of {host}"},
                                  "UnknownOperationException")
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                request = {}
            return self.operation(method, path, body, request if isinstance(request, dict) else {})

        def operation(self, method, path, body, request):
            model = request.get("model", "m")
            if method == "GET" and path.startswith("/foundation-models"):
                return self.reply(200, {"modelSummaries": [{"modelId": "amazon.nova-lite-v1:0"}]})
            if method == "GET" and path.startswith("/inference-profiles"):
                return self.reply(200, {"inferenceProfileSummaries": []})
            if method == "GET" and path in ("/v1/models", "/openai/v1/models"):
                return self.reply(200, MODELS)
            if method == "POST" and path == "/v1/messages":
                # Claude Platform on AWS: Anthropic's own Messages API.
                if request.get("stream"):
                    return self.sse(anthropic_events(model), first=FIRST_TEXT)
                return self.reply(200, anthropic_message(model))
            if method == "POST" and path.endswith("/chat/completions") and path.startswith(("/v1/", "/openai/v1/")):
                if request.get("stream"):
                    return self.sse([(None, c) for c in chat_chunks(model)], done=True)
                return self.reply(200, chat_completion(model))
            if method == "POST" and path in ("/v1/responses", "/openai/v1/responses"):
                return self.reply(200, response_object(model))
            if method == "POST" and path == "/anthropic/v1/messages":
                if request.get("stream"):
                    return self.sse(anthropic_events(model), first=FIRST_TEXT)
                return self.reply(200, anthropic_message(model))
            parts = path.split("/")
            if method == "POST" and len(parts) == 4 and parts[1] == "model":
                if parts[3] == "converse":
                    return self.reply(200, {
                        "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
                        "stopReason": "end_turn",
                        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                        "metrics": {"latencyMs": 1},
                    })
                if parts[3] == "invoke":
                    if "anthropic_version" in request:
                        return self.reply(200, anthropic_message(urllib.parse.unquote(parts[2])))
                    return self.reply(200, {"received": len(body)})
                if parts[3] == "converse-stream":
                    return self.stream([event_message(*e) for e in STREAM],
                                       "application/vnd.amazon.eventstream")
                if parts[3] == "invoke-with-response-stream":
                    chunks = [event_message("chunk", {"bytes": base64.b64encode(
                        json.dumps(data).encode()).decode()})
                        for _, data in anthropic_events(urllib.parse.unquote(parts[2]))]
                    return self.stream(chunks, "application/vnd.amazon.eventstream", FIRST_TEXT)
            return self.reply(404, {"message": f"no such operation: {method} {path}"},
                              "UnknownOperationException")

        def sse(self, events, done=False, first=1):
            def encode(kind, data):
                head = f"event: {kind}\n" if kind else ""
                return (head + "data: " + json.dumps(data) + "\n\n").encode()
            messages = [encode(k, d) for k, d in events]
            if done:
                messages.append(b"data: [DONE]\n\n")
            return self.stream(messages, "text/event-stream", first)

        def stream(self, messages, content_type, first=1):
            with go:
                seen = released[0]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for message in messages[:first]:
                self.chunk(message)
            # Hold the rest until the test has read the first event and says go. If no
            # go comes (the first event never reached the test), break the stream off.
            if not args.no_hold:
                with go:
                    if not go.wait_for(lambda: released[0] > seen, timeout=15):
                        self.close_connection = True
                        return
            for message in messages[first:]:
                time.sleep(0.05)
                self.chunk(message)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(key_path)  # the key file holds the certificate too

    class Server(http.server.ThreadingHTTPServer):
        # Many clients at once: a backlog that takes them, and TLS handshakes in each
        # connection's own thread rather than one after another in accept().
        request_queue_size = 1024
        daemon_threads = True

        def finish_request(self, request, client_address):
            # Headers and body go out in separate writes: without this, Nagle's
            # algorithm and the client's delayed ACK add 40 ms to every kept-alive call.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            super().finish_request(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    print(f"listening on https://127.0.0.1:{server.server_address[1]}", flush=True)
    # Stop when the test that started us closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
