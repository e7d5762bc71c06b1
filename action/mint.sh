#!/usr/bin/env bash
# The Action's second step: mint a short-term key from the job's AWS credentials,
# mask it, and export it with its region to the steps that follow (through
# GITHUB_ENV), and its expiry as the step's output.
#
# BEDKEY_REGION (default: AWS_REGION, then AWS_DEFAULT_REGION), BEDKEY_EXPIRES.
set -euo pipefail

# One line, as a GitHub error annotation: its data escaped as the runner wants it,
# and at most 400 characters.
fail() {
    local text="${1:0:400}"
    text="${text//'%'/%25}"
    text="${text//$'\r'/%0D}"
    echo "::error title=bedkey::${text//$'\n'/%0A}"
    exit 1
}

[ -n "${GITHUB_ENV:-}" ] || fail "GITHUB_ENV is not set: this runs as a step of a GitHub Actions job"
command -v bedkey >/dev/null || fail "bedkey is not on PATH: the install step did not run"
region="${BEDKEY_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
[ -n "$region" ] || fail "no region: set the action's 'region' input, or 'aws-region' in configure-aws-credentials"

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
status=0
# `--flag=value`: an input that starts with `-` stays a value.
json=$(bedkey token --output json --region="$region" --expires="${BEDKEY_EXPIRES:-1h}" 2>"$errors") || status=$?
if [ "$status" -ne 0 ]; then
    why=$(sed -n 's/^bedkey: error: //p' "$errors" | head -n 1)
    [ -n "$why" ] || why="bedkey token failed (exit $status)"
    # Credentials that were configured but do not work are their own story; with none
    # at all, say what the job is missing.
    configured="${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}${AWS_WEB_IDENTITY_TOKEN_FILE:-}"
    if [ "$status" -eq 4 ] && [ -z "$configured" ] && [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ]; then
        fail "no AWS credentials, and this job cannot request an OIDC token: add 'permissions: id-token: write' to the job, then run aws-actions/configure-aws-credentials before this step"
    elif [ "$status" -eq 4 ] && [ -z "$configured" ]; then
        fail "no AWS credentials: run aws-actions/configure-aws-credentials before this step"
    fi
    fail "$why"
fi

# A string field of bedkey's JSON (its values hold no quotes).
field() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" <<<"$json"; }
key=$(field key)
expires_at=$(field expires_at)
# A key is one line of base64 after its prefix; anything else must not reach GITHUB_ENV.
[[ "$key" =~ ^bedrock-api-key-[A-Za-z0-9+/=]+$ ]] || fail "bedkey printed something that is not a short-term key"
echo "::add-mask::$key"
{
    echo "AWS_BEARER_TOKEN_BEDROCK=$key"
    echo "AWS_REGION=$region"
    echo "AWS_DEFAULT_REGION=$region"
} >>"$GITHUB_ENV"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "expires-at=$expires_at" >>"$GITHUB_OUTPUT"
fi
echo "bedkey: AWS_BEARER_TOKEN_BEDROCK set for $region until $expires_at"
