#!/bin/bash
# `cmake --install` into a DESTDIR, from the Release tree that
# tests/deploy/buildtypes.sh configured with prefix /usr:
#  - the installed files are exactly tests/deploy/install-files.txt, plus
#    policies/examples/ as in the source tree;
#  - the programs run from there (--version) and the installed default
#    configurations pass --check-config;
#  - the systemd units pass `systemd-analyze verify` (warnings count as
#    failures: verify exits 0 on an unknown key), carry the hardening
#    docs/deployment.md promises, and `systemd-analyze security --offline`
#    rates each at most 2.0.
#   tests/deploy/install.sh TREE
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TREE=${1:?usage: install.sh TREE}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail=0
bad() { echo "FAILED: install: $*"; fail=$((fail + 1)); }

DESTDIR=$D/root cmake --install "$TREE" >"$D/log" 2>&1 || { cat "$D/log"; bad "cmake --install"; }

# The file list.
(cd "$D/root" && find . ! -type d | sed 's|^\./||' | sort) >"$D/all"
grep -v '^usr/share/kbs-c/policies/examples/' "$D/all" >"$D/got"
diff -u tests/deploy/install-files.txt "$D/got" || bad "installed files differ from tests/deploy/install-files.txt"
diff -u <(cd policies/examples && find . -type f | sed 's|^\./||' | sort) \
	<(sed -n 's|^usr/share/kbs-c/policies/examples/||p' "$D/all") ||
	bad "installed policy examples differ from policies/examples/"
for p in kbs-issuer kbs-broker kbs kbs-client; do
	[ -x "$D/root/usr/bin/$p" ] || { bad "/usr/bin/$p is not executable"; continue; }
	"$D/root/usr/bin/$p" --version >/dev/null 2>&1 || bad "$p --version"
done
for m in man8/kbs-issuer.8 man8/kbs-broker.8 man8/kbs.8 man1/kbs-client.1; do
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$D/root/usr/share/man/$m" 2>&1 >/dev/null) ||
		bad "man $m does not render"
	[ -z "$out" ] || bad "man $m: $out"
done
# The shipped configurations are valid as installed (their state paths
# under /var/lib/kbs-c need not exist for --check-config).
for c in issuer:kbs-issuer broker:kbs-broker kbs:kbs; do
	"$D/root/usr/bin/${c#*:}" --config "$D/root/etc/kbs-c/${c%%:*}.json" --check-config \
		>"$D/check" 2>&1 || { tail -n 5 "$D/check"; bad "${c%%:*}.json fails --check-config"; }
done

# systemd: verify the installed units with their paths pointed into the
# DESTDIR (verify checks that ExecStart= exists and the man pages resolve).
mkdir "$D/units"
for u in kbs-issuer kbs-broker kbs; do
	f=$D/root/usr/lib/systemd/system/$u.service
	[ -f "$f" ] || { bad "$u.service not installed"; continue; }
	sed "s|=/usr/bin/|=$D/root/usr/bin/|; s| /etc/kbs-c/| $D/root/etc/kbs-c/|" "$f" >"$D/units/$u.service"
	for want in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' \
		'CapabilityBoundingSet=' 'SystemCallFilter=@system-service' \
		'ExecReload=/bin/kill -HUP $MAINPID' 'DynamicUser=yes' "ExecStart=/usr/bin/$u --config /etc/kbs-c/"; do
		grep -qxF -- "$want" "$f" || grep -qF -- "$want" <(grep '^ExecStart=' "$f") ||
			bad "$u.service lacks '$want'"
	done
	grep -q '^StateDirectory=kbs-c/' "$f" || bad "$u.service has no StateDirectory=kbs-c/..."
done
if command -v systemd-analyze >/dev/null; then
	out=$(cd "$D/units" && MANPATH=$D/root/usr/share/man SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify ./*.service 2>&1) || bad "systemd-analyze verify failed"
	[ -z "$out" ] || { echo "$out"; bad "systemd-analyze verify printed warnings"; }
	for u in kbs-issuer kbs-broker kbs; do
		score=$(cd "$D/units" && systemd-analyze security --offline=yes "$u.service" 2>&1 |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		echo "install: systemd-analyze security $u.service: exposure ${score:-?}"
		(cd "$D/units" && systemd-analyze security --offline=yes --threshold=20 \
			"$u.service" >/dev/null 2>&1) || bad "$u.service exposure ${score:-?} above 2.0"
	done
else
	bad "systemd-analyze is missing (deploy/install-deps.sh --test installs systemd)"
fi

n=$(wc -l <"$D/all")
[ "$fail" -eq 0 ] && echo "install: $n files installed as listed; units verified"
[ "$fail" -eq 0 ]
