#!/bin/bash
# deploy/compose with podman-compose: up (with the image container.sh
# built, the trial issuer configuration that accepts the sample TEE, a
# fresh admin key, free ports on 127.0.0.1), the containers' health checks
# pass, the operator sets a policy and a secret through the admin API, a
# guest walks attest -> token -> resource through the published ports, and
# down -v, always, within a bounded time.  Skips (exit 77, reason printed)
# only where podman cannot run.
#   tests/deploy/compose.sh BUILD
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:?usage: compose.sh BUILD}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
. tests/deploy/lib.sh
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/deploy/container/containers.conf}
CLIENT=$BUILD/client/kbs-client
PROJECT=kbsdeploytest$$

if ! why=$(podman_usable); then echo "SKIP: compose: $why"; exit 77; fi
command -v podman-compose >/dev/null || { echo "FAILED: compose: podman-compose is not installed"; exit 1; }
export KBS_IMAGE=${KBS_TEST_IMAGE:-localhost/kbs-c:test}
podman image exists "$KBS_IMAGE" ||
	{ echo "FAILED: compose: image $KBS_IMAGE is missing (tests/deploy/container.sh builds it)"; exit 1; }

W=$(mktemp -d)
chmod 755 "$W"
pc() { timeout 300 podman-compose -f "$ROOT/deploy/compose/compose.yaml" -p "$PROJECT" "$@"; }
cleanup() {
	pc down -v -t 2 >"$W/down.log" 2>&1 || { echo "compose down failed:"; tail -n 5 "$W/down.log"; }
	# What podman-compose 1.0.3 leaves behind: the volumes, the network.
	timeout 60 podman volume rm -f "${PROJECT}_issuer-state" "${PROJECT}_broker-state" >/dev/null 2>&1
	timeout 60 podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
fail=0
bad() { echo "FAILED: compose: $*"; fail=$((fail + 1)); }
t0=$(date +%s)

openssl genpkey -algorithm ed25519 -out "$W/admin.pem" 2>/dev/null
openssl pkey -in "$W/admin.pem" -pubout -out "$W/admin-pub.pem"
chmod 644 "$W/admin-pub.pem"
read -r pi pb < <(/usr/bin/python3 -c 'import socket
ss=[socket.socket() for _ in range(2)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
export KBS_ISSUER_PORT=$pi KBS_BROKER_PORT=$pb KBS_ADMIN_PUB=$W/admin-pub.pem
export KBS_ISSUER_CONFIG=$ROOT/deploy/compose/issuer-sample.json
ISSUER=http://127.0.0.1:$pi BROKER=http://127.0.0.1:$pb

logs() { for s in kbs-issuer kbs-broker; do echo "--- $s"; podman logs "${PROJECT}_${s}_1" 2>&1 | tail -n 15; done; }
if ! pc up -d >"$W/up.log" 2>&1; then
	tail -n 20 "$W/up.log"; bad "podman-compose up"
elif ! wait_http "$ISSUER/healthz" 90 || ! wait_http "$BROKER/healthz" 90; then
	logs; bad "services did not answer on the published ports"
else
	echo "compose: up ($(( $(date +%s) - t0 )) s)"
	for s in kbs-issuer kbs-broker; do
		timeout 60 podman healthcheck run "${PROJECT}_${s}_1" >/dev/null 2>&1 ||
			bad "$s: its compose healthcheck fails"
		[ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "${PROJECT}_${s}_1")" = true ] ||
			bad "$s: root filesystem is not read-only"
	done
	# The issuer made its keys in its volume on first start.
	podman run --rm --network=none -v "${PROJECT}_issuer-state:/s:ro" "$KBS_IMAGE" \
		test -s /s/issuer/token-key.pem -a -s /s/issuer/session.key ||
		bad "the issuer's generated keys are not in its named volume"
	# The trial setup: a policy that accepts the sample TEE, set by the
	# operator with the admin key whose public half is mounted from the host.
	if ! "$CLIENT" --timeout 20 --url "$BROKER" set-resource-policy --admin-key "$W/admin.pem" \
		--policy policies/demo.json >"$W/policy.out" 2>&1; then
		cat "$W/policy.out"; bad "set-resource-policy with the mounted admin key"
	elif ! out=$(guest_flow "$CLIENT" "$ISSUER" "$BROKER" "$W/admin.pem" "$W"); then
		logs; bad "guest flow: $out"
	else
		echo "compose: attest -> token -> resource ok ($(( $(date +%s) - t0 )) s)"
	fi
	# Another admin key is refused.
	openssl genpkey -algorithm ed25519 -out "$W/other.pem" 2>/dev/null
	if "$CLIENT" --timeout 20 --url "$BROKER" set-resource --admin-key "$W/other.pem" \
		--path default/key/x --value x >/dev/null 2>&1; then
		bad "an admin key that is not mounted could write a resource"
	fi
fi

[ "$fail" -eq 0 ] && echo "compose: up, health checks, guest flow ok"
[ "$fail" -eq 0 ]
