#!/bin/bash
# make demo: kbs-issuer and kbs-broker on loopback with the configs in
# deploy/local/, a demo secret stored through the admin API, and a guest
# (kbs-client with the sample TEE) walked through attest -> token ->
# resource.  Everything it writes lives in demo-state/.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$PWD/$BUILD
ISSUER=http://127.0.0.1:8080
BROKER=http://127.0.0.1:8081
STATE=demo-state
SECRET="demo disk key $(date +%s)"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

wait_healthy() {
	for _ in $(seq 1 50); do
		curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "demo: $1 did not come up; see $STATE/*.log" >&2
	exit 1
}

for port in 8080 8081; do
	if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
		echo "demo: port $port is already in use; stop whatever listens there" >&2
		exit 1
	fi
done

mkdir -p "$STATE"
chmod 700 "$STATE"
if [ ! -f "$STATE/admin.pem" ]; then
	say "Creating an Ed25519 admin key ($STATE/admin.pem)"
	(umask 077; openssl genpkey -algorithm ed25519 -out "$STATE/admin.pem")
	openssl pkey -in "$STATE/admin.pem" -pubout -out "$STATE/admin-pub.pem"
fi

say "Starting kbs-issuer on $ISSUER (deploy/local/issuer.json)"
"$BIN/issuer/kbs-issuer" --config deploy/local/issuer.json 2>"$STATE/issuer.log" &
pids+=($!)
wait_healthy "$ISSUER"

say "Starting kbs-broker on $BROKER (deploy/local/broker.json)"
"$BIN/broker/kbs-broker" --config deploy/local/broker.json 2>"$STATE/broker.log" &
pids+=($!)
wait_healthy "$BROKER"

say "Operator stores a secret at default/key/demo (admin API, signed admin JWT)"
"$BIN/client/kbs-client" --insecure-http --url "$BROKER" set-resource --admin-key "$STATE/admin.pem" \
	--path default/key/demo --value "$SECRET"
echo "stored."

say "Guest attests to the issuer (sample TEE) and gets its passport"
TOKEN=$("$BIN/client/kbs-client" --insecure-http --url "$ISSUER" attest --tee-key-out "$STATE/tee-key.pem")
payload=$(cut -d. -f2 <<<"$TOKEN" | tr '_-' '/+')
while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
echo "token: ${TOKEN:0:40}... (${#TOKEN} bytes)"
echo "claims:"; base64 -d <<<"$payload" | head -c 1200; echo

say "Guest presents the token to the broker and unwraps the secret"
GOT=$("$BIN/client/kbs-client" --insecure-http get-resource --broker "$BROKER" --path default/key/demo \
	--token "$TOKEN" --tee-key "$STATE/tee-key.pem")
echo "secret: $GOT"

if [ "$GOT" = "$SECRET" ]; then
	say "Demo complete: attest -> token -> resource worked."
else
	echo "demo: the released secret does not match what was stored" >&2
	exit 1
fi
echo "Server logs: $STATE/issuer.log, $STATE/broker.log"
