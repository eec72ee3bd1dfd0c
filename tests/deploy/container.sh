#!/bin/bash
# The container image: build it (deploy/container/Containerfile, on a
# Debian base made with mmdebstrap when no registry is reachable), check
# it, and walk a guest through attest -> token -> resource against it:
#  - image: runs as a non-root user, has no compiler, all four programs run;
#  - passport: kbs-issuer and kbs-broker containers sharing one network
#    namespace (broker --network container:issuer; no pod, whose infra
#    container needs catatonit), read-only
#    root filesystem, no capabilities, state on a named volume, published
#    on 127.0.0.1; the guest flow with kbs-client from BUILD; after a
#    restart the stored secret and the issuer's keys are still there;
#  - background-check: `kbs` alone, read-only, the same flow.
# Skips (exit 77, reason printed) only where podman cannot run at all.
#   tests/deploy/container.sh BUILD
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:?usage: container.sh BUILD}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
. tests/deploy/lib.sh
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/deploy/container/containers.conf}
BASE=${KBS_BASE_IMAGE:-localhost/debian:bookworm}
IMAGE=${KBS_TEST_IMAGE:-localhost/kbs-c:test}
CLIENT=$BUILD/client/kbs-client
P=kbs-deploy-test-$$

if ! why=$(podman_usable); then echo "SKIP: container: $why"; exit 77; fi

W=$(mktemp -d)
chmod 755 "$W"
cleanup() {
	timeout 60 podman rm -f -t 2 "$P-broker" "$P-issuer" "$P-kbs" >/dev/null 2>&1
	timeout 60 podman volume rm -f "$P-state" "$P-kbs-state" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
fail=0
bad() { echo "FAILED: container: $*"; fail=$((fail + 1)); }
step() { echo "container: $1 ($(( $(date +%s) - t0 )) s)"; t0=$(date +%s); }
t0=$(date +%s)

# The base: podman's image store is the cache between runs.
if ! podman image exists "$BASE"; then
	timeout 900 deploy/container/make-base.sh "$BASE" || { bad "making $BASE"; exit 1; }
	step "base image $BASE made"
fi
# Layers are cached: only a source change rebuilds the build stage.
if ! timeout 1800 podman build --network=host --build-arg BASE="$BASE" \
	-f deploy/container/Containerfile -t "$IMAGE" . >"$W/build.log" 2>&1; then
	tail -n 30 "$W/build.log"; bad "podman build"; exit 1
fi
step "image $IMAGE built"
# Keep the build stage tagged (its layers are the next run's cache) and drop
# what earlier runs left untagged: each rebuild would leave ~1 GB behind.
podman build --network=host --build-arg BASE="$BASE" --target build \
	-f deploy/container/Containerfile -t "$IMAGE-build" . >"$W/build-stage.log" 2>&1 ||
	{ tail -n 10 "$W/build-stage.log"; bad "tagging the build stage"; }
podman image prune -f >/dev/null 2>&1

# The image itself.
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
case $user in ""|0|root|0:*|root:*) bad "image runs as '$user', not a non-root user" ;; esac
if podman run --rm --network=none "$IMAGE" sh -c 'command -v cc gcc clang cmake make' | grep -q .; then
	bad "the runtime image holds a compiler or build tool"
fi
for p in kbs-issuer kbs-broker kbs kbs-client; do
	podman run --rm --network=none --read-only "$IMAGE" "$p" --version >/dev/null 2>&1 ||
		bad "$p --version fails in the image"
done
[ "$(podman run --rm --network=none "$IMAGE" id -u)" != 0 ] || bad "default user is uid 0"

# Passport mode: issuer and broker share the issuer's network namespace
# (the broker reaches the JWKS on localhost), ports published on 127.0.0.1
# at free ports.
openssl genpkey -algorithm ed25519 -out "$W/admin.pem" 2>/dev/null
openssl pkey -in "$W/admin.pem" -pubout -out "$W/admin-pub.pem"
chmod 644 "$W/admin-pub.pem"
cat >"$W/issuer.json" <<JSON
{"http": {"listen": "0.0.0.0:8080"},
 "token": {"issuer": "kbs-issuer"},
 "verifier": {"allow_sample": true}}
JSON
cat >"$W/broker.json" <<JSON
{"http": {"listen": "0.0.0.0:8081"},
 "token": {"trusted_issuers": [{"name": "kbs-issuer", "iss": "kbs-issuer",
   "jwks_url": "http://127.0.0.1:8080/.well-known/jwks.json",
   "allow_insecure_http": true}]},
 "policy": {"file": "/usr/share/kbs-c/policies/demo.json"},
 "admin": {"public_keys": ["/etc/kbs-c/test/admin-pub.pem"]}}
JSON
chmod 644 "$W"/*.json
read -r pi pb pk < <(/usr/bin/python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])')
ISSUER=http://127.0.0.1:$pi BROKER=http://127.0.0.1:$pb KBS=http://127.0.0.1:$pk
RUN=(--read-only --cap-drop=ALL --security-opt=no-new-privileges -v "$P-state:/var/lib/kbs-c")
start_pair() {
	podman run -d --name "$P-issuer" "${RUN[@]}" -p "127.0.0.1:$pi:8080" -p "127.0.0.1:$pb:8081" \
		-v "$W/issuer.json:/etc/kbs-c/test/issuer.json:ro" \
		"$IMAGE" kbs-issuer --config /etc/kbs-c/test/issuer.json >/dev/null &&
	podman run -d --name "$P-broker" "${RUN[@]}" --network "container:$P-issuer" \
		-v "$W/broker.json:/etc/kbs-c/test/broker.json:ro" \
		-v "$W/admin-pub.pem:/etc/kbs-c/test/admin-pub.pem:ro" \
		"$IMAGE" kbs-broker --config /etc/kbs-c/test/broker.json >/dev/null
}
logs() { for c in "$@"; do echo "--- $c"; podman logs "$c" 2>&1 | tail -n 15; done; }
if ! start_pair; then
	bad "starting issuer and broker"
elif ! wait_http "$ISSUER/healthz" 60 || ! wait_http "$BROKER/healthz" 60; then
	logs "$P-issuer" "$P-broker"; bad "passport containers did not come up"
else
	step "passport: issuer and broker up (read-only root, no capabilities)"
	if ! out=$(guest_flow "$CLIENT" "$ISSUER" "$BROKER" "$W/admin.pem" "$W"); then
		logs "$P-issuer" "$P-broker"; bad "passport guest flow: $out"
	else
		step "passport: attest -> token -> resource ok"
		jwks=$(curl -fsS "$ISSUER/.well-known/jwks.json")
		# The broker shares the issuer's namespace: restart it after.
		podman restart -t 5 "$P-issuer" >/dev/null && podman restart -t 5 "$P-broker" >/dev/null
		if wait_http "$ISSUER/healthz" 60 && wait_http "$BROKER/healthz" 60; then
			[ "$(curl -fsS "$ISSUER/.well-known/jwks.json")" = "$jwks" ] ||
				bad "the issuer's token key changed across a restart (state not on the volume?)"
			token=$("$CLIENT" --insecure-http --url "$ISSUER" attest --tee-key-out "$W/tee2.pem" 2>/dev/null)
			"$CLIENT" --insecure-http get-resource --broker "$BROKER" --path default/key/deploy --token "$token" \
				--tee-key "$W/tee2.pem" >/dev/null 2>&1 || bad "the stored secret is gone after a restart"
			step "passport: restart keeps keys and resources"
		else
			logs "$P-issuer" "$P-broker"; bad "issuer and broker did not come back after a restart"
		fi
	fi
fi
timeout 60 podman rm -f -t 2 "$P-broker" "$P-issuer" >/dev/null 2>&1

# Background-check mode: kbs alone.
cat >"$W/kbs.json" <<JSON
{"http": {"listen": "0.0.0.0:8080"},
 "issuer": {"verifier": {"allow_sample": true}},
 "broker": {"policy": {"file": "/usr/share/kbs-c/policies/demo.json"},
            "admin": {"public_keys": ["/etc/kbs-c/test/admin-pub.pem"]}}}
JSON
chmod 644 "$W/kbs.json"
if ! podman run -d --name "$P-kbs" --read-only --cap-drop=ALL --security-opt=no-new-privileges \
	-p "127.0.0.1:$pk:8080" -v "$P-kbs-state:/var/lib/kbs-c" \
	-v "$W/kbs.json:/etc/kbs-c/test/kbs.json:ro" -v "$W/admin-pub.pem:/etc/kbs-c/test/admin-pub.pem:ro" \
	"$IMAGE" kbs --config /etc/kbs-c/test/kbs.json >/dev/null; then
	bad "starting kbs"
elif ! wait_http "$KBS/healthz" 60; then
	logs "$P-kbs"; bad "kbs did not come up"
elif ! out=$(guest_flow "$CLIENT" "$KBS" "$KBS" "$W/admin.pem" "$W"); then
	logs "$P-kbs"; bad "background-check guest flow: $out"
else
	step "background-check: attest -> token -> resource ok"
fi

[ "$fail" -eq 0 ] && echo "container: image and guest flows ok"
[ "$fail" -eq 0 ]
