#!/usr/bin/env python3
"""Wall-time benchmark: a bedkey subcommand vs. AWS's official Python generator.

Baseline (always the same):
    python3 -c 'from aws_bedrock_token_generator import provide_token; print(provide_token())'
Contender:
    $BEDKEY_BIN <--bedkey-args>        (default: target/release/bedkey token)

Both run as fresh processes with the same dummy credentials in a clean
environment (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE point at empty temp
files, IMDS disabled), so no network and no user config is involved. Runs
alternate python, bedkey, python, bedkey, ... after one verification run and one
warm-up run of each. Whole-process wall time is measured with
time.perf_counter_ns around subprocess.run.

Only the standard library is used here; the baseline interpreter needs
`pip install aws-bedrock-token-generator==1.1.0`.
"""

import argparse
import base64
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY_SNIPPET = "from aws_bedrock_token_generator import provide_token; print(provide_token())"
# A short-term key of either service: Bedrock's, or Claude Platform on AWS's.
KEY_RE = re.compile(r"(?:bedrock|aws-external-anthropic)-api-key-([A-Za-z0-9+/]+=*)")
HOSTS = ("bedrock.amazonaws.com", "aws-external-anthropic.amazonaws.com")
LONG_TERM_RE = re.compile(r"ABSK[A-Za-z0-9+/]+=*")

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Inherited variables that processes legitimately need; everything else
# (notably any AWS_* from the caller) is dropped.
PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "SYSTEMROOT")


def die(msg, code=1):
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_args():
    ap = argparse.ArgumentParser(description="bedkey vs official Python generator")
    ap.add_argument("--bedkey-bin",
                    default=os.environ.get("BEDKEY_BIN")
                    or os.path.join(REPO, "target", "release", "bedkey"),
                    help="bedkey binary (env BEDKEY_BIN; default target/release/bedkey)")
    ap.add_argument("--bedkey-args", default="token",
                    help='bedkey arguments, shell-split (default "token"; e.g. "env mykey")')
    ap.add_argument("--long-term", action="store_true",
                    help="bedkey's output holds a long-term ABSK key (bedkey env of a stored key)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for both processes (repeatable)")
    ap.add_argument("--python", default=os.environ.get("PYTHON", "python3"),
                    help="interpreter for the baseline (env PYTHON; default python3)")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "15")),
                    help="timed runs of each (env RUNS; default 15)")
    ap.add_argument("--target", type=float, default=25.0,
                    help="ratio target shown in the last line (default 25)")
    ap.add_argument("--also-bin", metavar="PATH",
                    help="another bedkey build (e.g. the previous release) timed in the "
                         "same alternating loop, for a before/after comparison")
    ap.add_argument("--also-args", metavar="ARGS",
                    help="arguments for the second command (with --also-bin, or the same "
                         "binary), e.g. another key: a side-by-side of two bedkey commands")
    ap.add_argument("--also-target", type=float, metavar="RATIO",
                    help="the most also_median / bedkey_median may be (a PASS/FAIL line)")
    ap.add_argument("--enforce", action="store_true",
                    help="exit 1 if the ratio is below --target")
    a = ap.parse_args()
    if a.runs < 1:
        die("--runs/RUNS must be >= 1")
    return a


def resolve_python(py):
    """Return the real interpreter path (skips pyenv/asdf shims, which would
    otherwise add their own startup cost to every baseline run)."""
    exe = shutil.which(py) or py
    try:
        out = subprocess.run([exe, "-c", "import sys; print(sys.executable)"],
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        die(f"cannot run baseline interpreter {py!r}: {e}")
    return out.stdout.strip() or exe


def check_importable(py, env):
    r = subprocess.run([py, "-c", "import aws_bedrock_token_generator as m; print(m.__version__)"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        die(f"the official generator is not importable by {py}.\n"
            f"  Install it with:\n    {py} -m pip install aws-bedrock-token-generator==1.1.0\n"
            f"  (this benchmark does not install anything itself)", 2)
    return r.stdout.strip()


def verify(label, cmd, env, long_term=False):
    """Run once and insist a well-formed key appears in stdout: a bedrock-api-key-...
    or, with long_term (`env` of a stored key), an ABSK... key."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if long_term:
        if r.returncode != 0 or not LONG_TERM_RE.search(r.stdout):
            die(f"{label} did not produce an ABSK... key\n"
                f"  command: {shlex.join(cmd)}\n  exit status: {r.returncode}\n"
                f"  stderr: {r.stderr.strip()[:2000]!r}")
        return
    m = KEY_RE.search(r.stdout)
    ok = r.returncode == 0 and m is not None
    if ok:
        try:
            url = base64.b64decode(m.group(1), validate=True).decode()
            ok = any(url.startswith(f"{h}/?Action=CallWithBearerToken&") for h in HOSTS)
        except ValueError:
            ok = False
    if not ok:
        die(f"{label} did not produce a bedrock-api-key-... key\n"
            f"  command: {shlex.join(cmd)}\n  exit status: {r.returncode}\n"
            f"  stdout: {r.stdout.strip()[:500]!r}\n  stderr: {r.stderr.strip()[:2000]!r}")


def timed(cmd, env):
    t0 = time.perf_counter_ns()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    t1 = time.perf_counter_ns()
    if r.returncode != 0:
        die(f"{shlex.join(cmd)} failed with status {r.returncode}: {r.stderr.decode()[:2000]}")
    return t1 - t0


def ms(ns):
    return ns / 1e6


def main():
    a = parse_args()

    bedkey = a.bedkey_bin
    if not (os.path.isfile(bedkey) and os.access(bedkey, os.X_OK)):
        die(f"bedkey binary not found or not executable: {bedkey}\n"
            f"  build it (cargo build --release) or set BEDKEY_BIN", 2)

    with tempfile.TemporaryDirectory(prefix="bedkey-bench-") as tmp:
        cfg = os.path.join(tmp, "config")
        creds = os.path.join(tmp, "credentials")
        for p in (cfg, creds):
            open(p, "w").close()
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.update(DUMMY_ENV)
        env["AWS_CONFIG_FILE"] = cfg
        env["AWS_SHARED_CREDENTIALS_FILE"] = creds
        for kv in a.env:
            k, sep, v = kv.partition("=")
            if not sep or not k:
                die(f"--env expects KEY=VALUE, got {kv!r}")
            env[k] = v

        python = resolve_python(a.python)
        version = check_importable(python, env)
        py_cmd = [python, "-c", PY_SNIPPET]
        bk_cmd = [bedkey] + shlex.split(a.bedkey_args)

        print(f"python: {shlex.join(py_cmd)}  (aws-bedrock-token-generator {version})")
        print(f"bedkey: {shlex.join(bk_cmd)}")
        verify("python generator", py_cmd, env)
        verify("bedkey", bk_cmd, env, long_term=a.long_term)
        also_cmd = None
        if a.also_bin or a.also_args:
            also_cmd = [a.also_bin or bedkey] + shlex.split(a.also_args or a.bedkey_args)
        if also_cmd:
            print(f"also:   {shlex.join(also_cmd)}")
            verify("the other bedkey", also_cmd, env, long_term=a.long_term)
        timed(py_cmd, env)  # warm-up (page cache, .pyc files)
        timed(bk_cmd, env)
        if also_cmd:
            timed(also_cmd, env)

        py_t, bk_t, also_t = [], [], []
        for i in range(a.runs):  # strictly alternating
            py_t.append(timed(py_cmd, env))
            if not also_cmd:
                bk_t.append(timed(bk_cmd, env))
                continue
            # The run right after python is measurably slower (caches, clock
            # speed): the two builds take that place in turn.
            pair = [(bk_cmd, bk_t), (also_cmd, also_t)]
            for cmd, times in (pair if i % 2 == 0 else pair[::-1]):
                times.append(timed(cmd, env))

    print(f"runs: {a.runs} each, alternating")
    rows = [("python", py_t), ("bedkey", bk_t)] + ([("also", also_t)] if also_t else [])
    for name, t in rows:
        print(f"{name}: median {ms(statistics.median(t)):9.3f} ms   "
              f"min {ms(min(t)):9.3f} ms   max {ms(max(t)):9.3f} ms")
    if also_t:
        also = statistics.median(also_t) / statistics.median(bk_t)
        print(f"also_median / bedkey_median = {also:.2f}")
        if a.also_target is not None:
            verdict = "PASS" if also <= a.also_target else "FAIL"
            print(f"also within {a.also_target:g}x of bedkey: {verdict}")
    ratio = statistics.median(py_t) / statistics.median(bk_t)
    print(f"python_median / bedkey_median = {ratio:.2f}")
    print(f"ratio: {ratio:.1f}x (target >= {a.target:g}x)")
    if a.enforce and ratio < a.target:
        sys.exit(1)


if __name__ == "__main__":
    main()
