#!/usr/bin/env bash
# Build a Caddy binary with the r2gate module, or build-if-needed and run the
# example config.
#
#   ./xcaddy.sh          build ./caddy (same as ./xcaddy.sh build)
#   ./xcaddy.sh build    build ./caddy
#   ./xcaddy.sh run      build ./caddy if it is missing or older than any Go
#                        source (not *_test.go) or go.mod/go.sum, then run
#                        Caddyfile.example
#
# xcaddy v0.4.5 is installed into .cache/bin/ when it is not on PATH.
set -euo pipefail

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
MODULE=github.com/r2gate/r2gate

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"

usage() {
	echo "usage: $0 [build|run]" >&2
	exit 2
}

find_xcaddy() {
	if [[ -x "$repo/.cache/bin/xcaddy" ]]; then
		echo "$repo/.cache/bin/xcaddy"
	elif command -v xcaddy >/dev/null 2>&1; then
		command -v xcaddy
	else
		echo "installing xcaddy $XCADDY_VERSION into .cache/bin/ ..." >&2
		GOBIN="$repo/.cache/bin" go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
		echo "$repo/.cache/bin/xcaddy"
	fi
}

# The module proxy answers 400/403 (not 404) for module paths it does not
# know, such as ours, and Go only falls back to the local replacement on "not
# found". Ending the proxy list with "|off" makes any proxy error final, so
# the build uses the replacement (--with $MODULE=.) instead of failing.
build_goproxy() {
	local p
	p="$(go env GOPROXY)"
	case "$p" in
	off | direct | "") echo "$p"; return ;;
	esac
	p="${p%,direct}"
	p="${p%|direct}"
	case "$p" in
	*"|off" | *",off") echo "$p" ;;
	*) echo "$p|off" ;;
	esac
}

build() {
	local xcaddy proxy start
	xcaddy="$(find_xcaddy)"
	proxy="$(build_goproxy)"
	echo "building ./caddy (Caddy $CADDY_VERSION + $MODULE) with GOPROXY=$proxy;" \
		"a cold build can take ~6 minutes, a warm one ~30 s" >&2
	start=$SECONDS
	# XCADDY_GO_BUILD_FLAGS replaces xcaddy's default flags, so they are
	# repeated here, plus the nodynamic tag: it compiles in the WebP encoder
	# (libwebp translated to Go) and keeps the binary static, without it
	# that library would try to load a system libwebp at run time.
	GOPROXY="$proxy" \
		XCADDY_GO_BUILD_FLAGS="-ldflags='-w -s' -trimpath -tags=nobadger,nomysql,nopgx,nodynamic" \
		"$xcaddy" build "$CADDY_VERSION" \
		--output "$repo/caddy" \
		--with "$MODULE=."
	echo "built ./caddy in $((SECONDS - start)) s" >&2
}

# needs_build succeeds when ./caddy is missing or older than any Go source
# file, go.mod or go.sum in the repository. Tests (*_test.go) are left out:
# they do not change the binary.
needs_build() {
	[[ -x "$repo/caddy" ]] || return 0
	local newer
	newer="$(find "$repo" \( -path "$repo/.cache" -o -path "$repo/.git" \) -prune -o \
		-type f \( \( -name '*.go' ! -name '*_test.go' \) -o -name go.mod -o -name go.sum \) \
		-newer "$repo/caddy" -print -quit)"
	[[ -n "$newer" ]]
}

case "${1:-build}" in
build)
	[[ $# -le 1 ]] || usage
	build
	;;
run)
	[[ $# -le 1 ]] || usage
	if needs_build; then
		build
	fi
	exec "$repo/caddy" run --config "$repo/Caddyfile.example" --adapter caddyfile
	;;
-h | --help | help)
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
	;;
*)
	usage
	;;
esac
