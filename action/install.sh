#!/usr/bin/env bash
# The Action's first step: install the released bedkey for this runner with the
# installer the release carries (shell on Linux and macOS, PowerShell on Windows),
# into the runner's temp dir, and put it on PATH for the steps that follow.
#
# BEDKEY_VERSION: "latest" or a version (0.2.0 or v0.2.0).
# BEDKEY_INSTALLER_GITHUB_BASE_URL: a GitHub mirror (default https://github.com),
# read by the installer too; tests point it at a local server.
set -euo pipefail

# One line, as a GitHub error annotation (its data escaped as the runner wants it).
fail() {
    local text="${1//'%'/%25}"
    text="${text//$'\r'/%0D}"
    echo "::error title=bedkey::${text//$'\n'/%0A}"
    exit 1
}

version="${BEDKEY_VERSION:-latest}"
releases="${BEDKEY_INSTALLER_GITHUB_BASE_URL:-https://github.com}/bedkey/bedkey/releases"
if [[ "$version" == latest ]]; then
    url="$releases/latest/download"
elif [[ "$version" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    url="$releases/download/v${version#v}"
else
    # Not echoed as given: an input is not trusted to be one line.
    fail "the version input is not a release version (such as 0.2.0) or 'latest'"
fi
[ -n "${GITHUB_PATH:-}" ] || fail "GITHUB_PATH is not set: this runs as a step of a GitHub Actions job"

dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/bedkey"
# HTTPS, or plain HTTP to a local test server only (no user part: in
# http://127.0.0.1:1@host the host is `host`).
proto='=https'
if [[ "$releases" =~ ^http://127\.0\.0\.1:[0-9]+/ ]]; then
    proto='=http'
elif [[ ! "$releases" =~ ^https:// ]]; then
    fail "BEDKEY_INSTALLER_GITHUB_BASE_URL must be an https:// URL"
fi

case "${RUNNER_OS:-}" in
    Windows)
        # The URL reaches PowerShell through the environment, never inside its
        # command text, where a quote in a mirror's URL would end the string.
        # shellcheck disable=SC2016 # $env: is PowerShell's to expand, not the shell's
        BEDKEY_INSTALLER_URL="$url/bedkey-installer.ps1" BEDKEY_INSTALL_DIR="$dir" BEDKEY_NO_MODIFY_PATH=1 \
            powershell -NoProfile -ExecutionPolicy Bypass \
            -Command 'irm $env:BEDKEY_INSTALLER_URL | iex' ||
            fail "could not install bedkey $version"
        ;;
    *)
        curl --proto "$proto" --tlsv1.2 -LsSf "$url/bedkey-installer.sh" |
            BEDKEY_INSTALL_DIR="$dir" BEDKEY_NO_MODIFY_PATH=1 sh -s -- --quiet ||
            fail "could not install bedkey $version"
        ;;
esac
echo "$dir/bin" >>"$GITHUB_PATH"
"$dir/bin/bedkey" --version
