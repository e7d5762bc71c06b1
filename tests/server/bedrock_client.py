#!/usr/bin/env python3
"""A long-running Bedrock client for the proxy tests: boto3 (and plain HTTPS) using only
what its environment gives it, as a program under `bedkey exec --proxy` or started
beside `bedkey proxy` would. Prints one JSON object on stdout.

Modes:
  calls SECONDS  ListFoundationModels, InvokeModel, then Converse every 0.2 s for
                 SECONDS, then ConverseStream read with the stand-in's handshake
                 (STANDIN and STANDIN_CA name the stand-in itself), then one request
                 with a wrong token
  raw N          N Converse requests by plain HTTPS: each status and error message
  burst N S      rounds of N Converse requests at once, each on its own connection,
                 for S seconds
  until-502 S    Converse every 0.2 s until one fails (at most S seconds); first
                 removes the file AWS_SHARED_CREDENTIALS_FILE names when REMOVE_CREDS=1
  odd 0          requests a client should not make or may make unusually: TRACE, a
                 lowercase `bearer`, a body with a broken chunk size, a 6 KB and a
                 9 KB header: their statuses
  hold S         start ConverseStream, print "first" once its first event is in,
                 then hold the stream open for S seconds
"""

import concurrent.futures
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse
import urllib.request

MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
BODY = json.dumps({"messages": MESSAGES}).encode()


def endpoint():
    url = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"])
    return url.hostname, url.port


def raw(path="/model/m/converse", token=None, body=BODY, method="POST", scheme="Bearer",
        extra=None):
    """One request over a new connection, trusting only what AWS_CA_BUNDLE holds."""
    host, port = endpoint()
    context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=30)
    token = os.environ["AWS_BEARER_TOKEN_BEDROCK"] if token is None else token
    headers = {"Authorization": f"{scheme} {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers={**headers, **(extra or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    try:
        message = json.loads(data).get("message", "")
    except ValueError:
        message = ""
    return response.status, message


def calls(seconds):
    import boto3
    from botocore.config import Config
    config = Config(retries={"max_attempts": 1})
    runtime = boto3.client("bedrock-runtime", config=config)
    control = boto3.client("bedrock", config=config)
    out = {
        "token": os.environ["AWS_BEARER_TOKEN_BEDROCK"],
        "region": runtime.meta.region_name,
        "model": control.list_foundation_models()["modelSummaries"][0]["modelId"],
        "invoke": json.loads(runtime.invoke_model(modelId="m", body=BODY)["body"].read()),
    }
    n = 0
    end = time.time() + seconds
    while True:
        r = runtime.converse(modelId="m", messages=MESSAGES)
        assert r["output"]["message"]["content"][0]["text"] == "hello"
        n += 1
        if time.time() >= end:
            break
        time.sleep(0.2)
    out["converse_calls"] = n

    events = []
    stream = runtime.converse_stream(modelId="m", messages=MESSAGES)["stream"]
    for event in stream:
        events.append(list(event)[0])
        if len(events) == 1:
            # The first event came through while the stand-in holds the rest: tell it
            # to go on. A proxy that buffered the stream would never get here.
            context = ssl.create_default_context(cafile=os.environ["STANDIN_CA"])
            go = urllib.request.Request(os.environ["STANDIN"] + "/_control/go", method="POST", data=b"")
            urllib.request.urlopen(go, context=context).read()
    out["stream"] = events
    out["wrong_token"] = raw(token="bedkey-local-wrong")
    out["no_token"] = raw(token="")
    return out


def burst(n, seconds):
    statuses, rounds = {}, 0
    end = time.time() + seconds
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        while rounds == 0 or time.time() < end:
            for status, _ in pool.map(lambda _: raw(), range(n)):
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            rounds += 1
    return {"statuses": statuses, "rounds": rounds}


def until_502(seconds):
    if os.environ.get("REMOVE_CREDS") == "1":
        os.remove(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    removed = time.time()
    ok = 0
    while time.time() < removed + seconds:
        status, message = raw()
        if status != 200:
            return {"ok_after_removal": ok, "status": status, "message": message,
                    "after": time.time() - removed}
        ok += 1
        time.sleep(0.2)
    return {"ok_after_removal": ok, "status": None}


def broken_chunk():
    """A POST whose chunked body has a chunk size no number can hold."""
    host, port = endpoint()
    context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    with context.wrap_socket(__import__("socket").create_connection((host, port)),
                             server_hostname=host) as s:
        s.sendall((f"POST /model/m/converse HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: Bearer {os.environ['AWS_BEARER_TOKEN_BEDROCK']}\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                   "fffffffffffffffffff\r\nxx\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def hold(seconds):
    host, port = endpoint()
    context = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=60)
    conn.request("POST", "/model/m/converse-stream", body=BODY, headers={
        "Authorization": f"Bearer {os.environ['AWS_BEARER_TOKEN_BEDROCK']}"})
    response = conn.getresponse()
    response.read1(1)
    print("first", flush=True)
    time.sleep(seconds)
    return {"held": True}


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "calls":
        out = calls(float(arg))
    elif mode == "raw":
        out = {"results": [raw() for _ in range(int(arg))]}
    elif mode == "burst":
        out = burst(int(arg), float(sys.argv[3]))
    elif mode == "odd":
        out = {
            "trace": raw(method="TRACE")[0],
            "options": raw(method="OPTIONS")[0],
            "lowercase_bearer": raw(scheme="bearer")[0],
            "broken_chunk": broken_chunk(),
            "head_6k": raw(extra={"x-padding": "p" * 6000})[0],
            "head_9k": raw(extra={"x-padding": "p" * 9000})[0],
        }
    elif mode == "hold":
        out = hold(float(arg))
    elif mode == "until-502":
        out = until_502(float(arg))
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
