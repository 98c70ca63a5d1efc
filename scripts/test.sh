#!/usr/bin/env bash
# The test command: ./scripts/test.sh
#
# Installs what the tests need when it is missing (as root on Debian: Chromium for the browser
# tests, a font for legible screenshots, gcc for -race, PostgreSQL for the store tests (they start
# a throwaway server from its binaries), sipp for the SIP tests, Node.js and npm for JsSIP (a
# browser SIP client, from npm), libopus-dev and pkg-config for Opus transcoding (phones in
# meetings), iproute2 and iptables for the NAT test),
# then checks formatting, vets and runs every test with the race detector. Quick when everything
# is installed.
#
# Environment:
#   CI=true            browser tests fail (not skip) when Chromium is missing, SIP peer tests when
#                      sipp is missing
#   TEST_TIMEOUT=20m   go test -timeout
#   GO_TEST_FLAGS=...  extra flags for go test (e.g. "-run TestMeeting -v")
#   SKIP_INSTALL=1     never install anything
#   E2E_SCREENSHOTS=1  browser tests save /tmp/e2e-room.png and /tmp/e2e-screenshare.png
#   E2E_NO_NETNS=1     skip the NAT test where network namespaces are not allowed
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
elapsed() { local s=$(( $(date +%s) - start )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
start=$(date +%s)

# ---------------------------------------------------------------------------------------- tools
step "checking tools"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed or not on PATH; install Go 1.26 (https://go.dev/dl/)" >&2
  exit 1
fi
echo "$(go version)"

# Debian packages the tests use, each with a command that shows it is installed.
declare -a missing=()
need() { # need <package> <test command...>
  local pkg=$1; shift
  if ! "$@" >/dev/null 2>&1; then missing+=("$pkg"); fi
}
chromium_bin=${E2E_CHROMIUM:-/usr/bin/chromium}
need chromium test -x "$chromium_bin"
need fonts-dejavu-core test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
# go test -race needs cgo, hence a C compiler and the C library headers.
need gcc command -v gcc
need libc6-dev test -e /usr/include/stdlib.h
# The store tests run against SQLite and a real PostgreSQL (internal/store/pgtest).
need postgresql bash -c 'command -v initdb || compgen -G "/usr/lib/postgresql/*/bin/initdb"'
# The SIP tests (internal/sip) register real SIP peers: sipp, from Debian's sip-tester.
need sip-tester command -v sipp
# A standard browser SIP client (e2e/sip_jssip_test.go): JsSIP from npm, bundled with esbuild.
need nodejs command -v node
need npm command -v npm
# Phones in Opus meetings transcode with libopus through cgo (internal/audio, build tag libopus):
# its headers, found with pkg-config.
need libopus-dev test -e /usr/include/opus/opus.h
need pkg-config command -v pkg-config
# The NAT test (e2e/nat_test.go) builds namespaces, a NAT and a firewall (it runs as root only).
if [[ $(id -u) -eq 0 ]]; then
  need iproute2 command -v ip
  need iptables command -v iptables
fi

if ((${#missing[@]})); then
  if [[ ${SKIP_INSTALL:-} != "" ]]; then
    echo "missing: ${missing[*]} (SKIP_INSTALL is set, not installing)"
  elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "installed ${missing[*]}"
  else
    echo "missing: ${missing[*]}" >&2
    if command -v apt-get >/dev/null 2>&1; then
      echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    else
      echo "install Chromium (so that $chromium_bin exists, or set E2E_CHROMIUM) and the DejaVu fonts" >&2
    fi
    if [[ " ${missing[*]} " == *" gcc "* || " ${missing[*]} " == *" libc6-dev "* ]]; then
      echo "go test -race needs a C compiler (cgo); cannot continue" >&2
      exit 1
    fi
    if [[ " ${missing[*]} " == *" chromium "* ]]; then
      if [[ ${CI:-} != "" ]]; then
        echo "CI is set: the browser tests cannot run without Chromium" >&2
        exit 1
      fi
      echo "continuing: the browser tests (./e2e) will be skipped" >&2
    fi
    if [[ " ${missing[*]} " == *" sip-tester "* ]]; then
      if [[ ${CI:-} != "" ]]; then
        echo "CI is set: the SIP peer tests cannot run without sipp (sip-tester)" >&2
        exit 1
      fi
      echo "continuing: the SIP peer tests (internal/sip) will be skipped" >&2
    fi
  fi
fi
if [[ -x $chromium_bin ]]; then
  "$chromium_bin" --version 2>/dev/null | head -n1 || true
fi

# JsSIP for the browser: npm ci and a bundle, again whenever the lock file changes.
if command -v npm >/dev/null 2>&1; then
  if [[ ! -f e2e/jssip/dist/jssip.js || e2e/jssip/package-lock.json -nt e2e/jssip/dist/jssip.js ]]; then
    step "JsSIP for the browser tests (npm ci in e2e/jssip)"
    (cd e2e/jssip && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
  fi
elif [[ ${CI:-} != "" ]]; then
  echo "CI is set: the JsSIP browser test needs npm (apt-get install npm)" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------- checks
step "gofmt -l ."
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
  echo "these files need gofmt -w:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "ok"

# Two builds: the release build transcodes Opus with libopus (cgo, -tags libopus; nolibopusfile
# leaves out the Ogg file reader of gopkg.in/hraban/opus.v2, which would need libopusfile), and
# the pure-Go build (no tag) must keep compiling and working: there audio.ErrNoOpus refuses what
# needs transcoding (phones in Opus meetings) and G.711 pass-through still works. The tests run
# with the tag when libopus is there; the pure-Go build is vetted, built without cgo, and the
# packages whose behaviour differs are tested without the tag too.
opus_tags=()
if pkg-config --exists opus 2>/dev/null && [[ $(go env CGO_ENABLED) == 1 ]]; then
  opus_tags=(-tags libopus,nolibopusfile)
else
  echo "libopus (libopus-dev) or cgo is missing: testing the pure-Go build only (no Opus transcoding)" >&2
fi

step "go vet ./... (pure Go)"
go vet ./...
echo "ok"
step "CGO_ENABLED=0 go build ./... (pure Go)"
CGO_ENABLED=0 go build ./...
echo "ok"
if ((${#opus_tags[@]})); then
  step "go vet ${opus_tags[*]} ./..."
  go vet "${opus_tags[@]}" ./...
  echo "ok"
fi

timeout=${TEST_TIMEOUT:-20m}
# go test runs packages in parallel. The browser tests (./e2e) start several Chromiums that need
# the whole machine (CI has two cores), so everything else runs first, then e2e alone, verbosely
# so that its measurements (join-to-first-frame, reconnect time) appear in the log.
step "go test -race ${opus_tags[*]} (all packages but e2e, timeout $timeout)"
mapfile -t pkgs < <(go list ./... | grep -v '/e2e$')
# shellcheck disable=SC2086
go test -race -timeout "$timeout" "${opus_tags[@]}" ${GO_TEST_FLAGS:-} "${pkgs[@]}"
echo "done at $(elapsed)"
if ((${#opus_tags[@]})); then
  step "go test -race without libopus (the pure-Go build's audio and phone-conference behaviour)"
  # shellcheck disable=SC2086
  go test -race -timeout "$timeout" ${GO_TEST_FLAGS:-} ./internal/audio ./internal/sip/bridge
  go test -race -timeout "$timeout" -run 'Conference|DialIn|DialOut' ./internal/app
  echo "done at $(elapsed)"
fi

if go list ./e2e >/dev/null 2>&1; then
  step "go test -race ${opus_tags[*]} ./e2e (browser tests, timeout $timeout)"
  # shellcheck disable=SC2086
  go test -race -timeout "$timeout" -v "${opus_tags[@]}" ${GO_TEST_FLAGS:-} ./e2e/
  echo "done at $(elapsed)"
fi

step "all tests passed in $(elapsed)"
