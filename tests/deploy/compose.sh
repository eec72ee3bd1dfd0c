#!/bin/bash
# deploy/compose with podman-compose: up (with the image container.sh
# built, the trial issuer configuration that accepts the sample TEE, a
# fresh admin key, free ports on 127.0.0.1), the containers' health checks
# pass, the operator sets a policy and a secret through the admin API, a
# guest walks attest -> token -> resource through the published ports, and
# down -v, always, within a bounded time.  Then the KMIP profile
# (compose.kmip.yaml, PyKMIP image from deploy/compose/kmip): the same flow
# for a resource under kmip/, which must land in the KMIP server and not in
# the broker's repository.  Then the PostgreSQL profile (compose.pg.yaml,
# Debian's PostgreSQL image from deploy/compose/postgres): a resource set
# through the broker lands in the database, sealed (not in a dump, not on
# the broker's disk), the issuer keeps an appraisal policy set through its
# admin API and the admin token's jti there, and a guest gets the resource.  Skips (exit 77, reason printed) only where
# podman cannot run.
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
FILES=(-f "$ROOT/deploy/compose/compose.yaml")
pc() { timeout 300 podman-compose "${FILES[@]}" -p "$PROJECT" "$@"; }
down() {
	pc down -v -t 2 >"$W/down.log" 2>&1 || { echo "compose down failed:"; tail -n 5 "$W/down.log"; }
	# What podman-compose 1.0.3 may leave behind: containers stuck in a
	# restart loop, the volumes, the network.
	local c v
	for c in $(podman ps -a --format '{{.Names}}' | grep "^${PROJECT}_"); do
		timeout 60 podman rm -f -t 1 "$c" >/dev/null 2>&1
	done
	for v in issuer-state broker-state kmip-state kmip-client db-data db-client pgk8s-data; do
		timeout 60 podman volume rm -f "${PROJECT}_$v" >/dev/null 2>&1
	done
	timeout 60 podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
}
cleanup() { down; rm -rf "$W"; }
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

logs() { for s in kbs-issuer kbs-broker ${KMIP:+kmip} ${PG:+postgres}; do echo "--- $s"; podman logs "${PROJECT}_${s}_1" 2>&1 | tail -n 15; done; }
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
	if ! "$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource-policy --admin-key "$W/admin.pem" \
		--policy policies/demo.json >"$W/policy.out" 2>&1; then
		cat "$W/policy.out"; bad "set-resource-policy with the mounted admin key"
	elif ! out=$(guest_flow "$CLIENT" "$ISSUER" "$BROKER" "$W/admin.pem" "$W"); then
		logs; bad "guest flow: $out"
	else
		echo "compose: attest -> token -> resource ok ($(( $(date +%s) - t0 )) s)"
	fi
	# Another admin key is refused.
	openssl genpkey -algorithm ed25519 -out "$W/other.pem" 2>/dev/null
	if "$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource --admin-key "$W/other.pem" \
		--path default/key/x --value x >/dev/null 2>&1; then
		bad "an admin key that is not mounted could write a resource"
	fi
fi

down

# The KMIP profile.
KMIP=1
export KBS_KMIP_IMAGE=${KBS_TEST_KMIP_IMAGE:-localhost/kbs-c-kmip:test}
export KBS_BROKER_CONFIG=$ROOT/deploy/compose/broker-kmip.json
FILES+=(-f "$ROOT/deploy/compose/compose.kmip.yaml")
t0=$(date +%s)
if ! timeout 900 podman build --network=host --build-arg BASE="${KBS_BASE_IMAGE:-localhost/debian:bookworm}" \
	-t "$KBS_KMIP_IMAGE" deploy/compose/kmip >"$W/kmip-build.log" 2>&1; then
	tail -n 20 "$W/kmip-build.log"; bad "building the KMIP image"
elif ! pc up -d >"$W/up.log" 2>&1; then
	tail -n 20 "$W/up.log"; bad "podman-compose up with compose.kmip.yaml"
elif ! wait_http "$BROKER/healthz" 90; then
	logs; bad "kmip profile: the broker did not answer"
else
	echo "compose: kmip profile up ($(( $(date +%s) - t0 )) s)"
	ok=0
	# The KMIP server makes the broker's client certificate at its first
	# start; the broker's first connection may come before it listens.
	for _ in $(seq 1 60); do
		"$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource --admin-key "$W/admin.pem" \
			--path kmip/key/deploy --value "kmip deploy secret" >"$W/kset.out" 2>&1 && { ok=1; break; }
		sleep 1
	done
	if [ $ok != 1 ]; then
		cat "$W/kset.out"; logs; bad "kmip profile: storing kmip/key/deploy"
	else
		"$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource-policy --admin-key "$W/admin.pem" \
			--policy policies/demo.json >/dev/null 2>&1 || bad "kmip profile: set-resource-policy"
		got=$("$CLIENT" --insecure-http --timeout 20 get-resource --issuer "$ISSUER" --broker "$BROKER" \
			--path kmip/key/deploy 2>"$W/kget.err")
		[ "$got" = "kmip deploy secret" ] || { cat "$W/kget.err"; bad "kmip profile: guest flow"; }
		n=$(podman exec "${PROJECT}_kmip_1" python3 -c "import sqlite3
print(sqlite3.connect('/var/lib/kmip/kmip.db').execute('select count(*) from managed_objects').fetchone()[0])" 2>/dev/null)
		[ "${n:-0}" -ge 1 ] || bad "kmip profile: the KMIP server holds no object"
		if podman run --rm --network=none -v "${PROJECT}_broker-state:/s:ro" "$KBS_IMAGE" \
			test -e /s/broker/resources/kmip; then
			bad "kmip profile: kmip/ landed in the broker's filesystem repository"
		fi
		[ "$fail" -eq 0 ] && echo "compose: kmip profile: resource in KMIP, guest flow ok ($(( $(date +%s) - t0 )) s)"
	fi
fi

down

# The PostgreSQL profile.
KMIP=; PG=1
export KBS_PG_IMAGE=${KBS_TEST_PG_IMAGE:-localhost/kbs-c-postgres:test}
export KBS_BROKER_CONFIG=$ROOT/deploy/compose/broker-pg.json KBS_KEK=$W/kek
# The profile's issuer config with the sample TEE accepted (trials only).
/usr/bin/python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["verifier"] = {"allow_sample": True}
json.dump(c, open(sys.argv[2], "w"))' "$ROOT/deploy/compose/issuer-pg.json" "$W/issuer-pg.json"
chmod 644 "$W/issuer-pg.json"
export KBS_ISSUER_CONFIG=$W/issuer-pg.json
# An admin token (EdDSA, with a jti: the issuer takes single-use tokens).
admin_token() {
	/usr/bin/python3 - "$W/admin.pem" <<'PY'
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
now = int(time.time())
h = b(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
c = b(json.dumps({"iss": "compose-admin", "sub": "admin", "role": "admin",
                  "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4())}).encode())
print(h + "." + c + "." + b(k.sign((h + "." + c).encode())))
PY
}
FILES=(-f "$ROOT/deploy/compose/compose.yaml" -f "$ROOT/deploy/compose/compose.pg.yaml")
openssl rand -out "$W/kek" 32
chown 10001 "$W/kek" && chmod 600 "$W/kek"
SECRET="pg deploy secret $$"
t0=$(date +%s)
if ! timeout 900 podman build --network=host --build-arg BASE="${KBS_BASE_IMAGE:-localhost/debian:bookworm}" \
	-t "$KBS_PG_IMAGE" deploy/compose/postgres >"$W/pg-build.log" 2>&1; then
	tail -n 20 "$W/pg-build.log"; bad "building the PostgreSQL image"
elif ! pc up -d >"$W/up.log" 2>&1; then
	tail -n 20 "$W/up.log"; bad "podman-compose up with compose.pg.yaml"
elif ! wait_http "$BROKER/healthz" 120; then
	logs; bad "pg profile: the broker did not answer"
else
	echo "compose: pg profile up ($(( $(date +%s) - t0 )) s)"
	if ! "$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource --admin-key "$W/admin.pem" \
		--path default/key/pgdeploy --value "$SECRET" >"$W/pset.out" 2>&1; then
		cat "$W/pset.out"; logs; bad "pg profile: storing default/key/pgdeploy"
	else
		"$CLIENT" --insecure-http --timeout 20 --url "$BROKER" set-resource-policy --admin-key "$W/admin.pem" \
			--policy policies/demo.json >/dev/null 2>&1 || bad "pg profile: set-resource-policy"
		psql() { podman exec "${PROJECT}_postgres_1" psql -X -At -h /tmp -U kbs -d postgres -c "$1" 2>/dev/null; }
		# The issuer on the database too: an appraisal policy set through
		# its admin API is a row of kbs_appraisal_doc, its admin jti a row
		# of kbs_jti.  The token is single-use, an idempotency key
		# (docs/api.md): the same request again gets its recorded status,
		# not run again; another request with it is refused.
		/usr/bin/python3 -c 'import base64, sys
d = open(sys.argv[1], "rb").read()
print("{\"type\": \"rego\", \"policy_id\": \"default_cpu\", \"policy\": \"%s\"}"
      % base64.urlsafe_b64encode(d).rstrip(b"=").decode())' policies/appraisal-default.json >"$W/apol.json"
		tok=$(admin_token)
		code=$(curl -s -o "$W/apol.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
			-H "Content-Type: application/json" --data @"$W/apol.json" "$ISSUER/kbs/v0/attestation-policy")
		[ "$code" = 200 ] || { cat "$W/apol.out"; logs; bad "pg profile: issuer attestation-policy set ($code)"; }
		[ "$(psql "SELECT count(*) FROM kbs_appraisal_doc")" -ge 1 ] 2>/dev/null ||
			bad "pg profile: the issuer's appraisal policy is not in the database"
		[ "$(psql "SELECT count(*) FROM kbs_jti WHERE scope = 'admin'")" -ge 1 ] 2>/dev/null ||
			bad "pg profile: the issuer's admin jti is not in the database"
		code=$(curl -s -o /dev/null -D "$W/apol.hdr" -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
			-H "Content-Type: application/json" --data @"$W/apol.json" "$ISSUER/kbs/v0/attestation-policy")
		{ [ "$code" = 200 ] && grep -qi '^Idempotent-Replayed: true' "$W/apol.hdr"; } ||
			bad "pg profile: the same admin request again was not answered from its record ($code)"
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
			"$ISSUER/kbs/v0/attestation-policy")
		[ "$code" = 401 ] || bad "pg profile: a used issuer admin token was accepted for another request ($code)"
		got=$("$CLIENT" --insecure-http --timeout 20 get-resource --issuer "$ISSUER" --broker "$BROKER" \
			--path default/key/pgdeploy 2>"$W/pget.err")
		[ "$got" = "$SECRET" ] || { cat "$W/pget.err"; logs; bad "pg profile: guest flow"; }
		[ "$(psql "SELECT count(*) FROM kbs_resource WHERE path = 'default/key/pgdeploy'")" = 1 ] ||
			bad "pg profile: the resource is not in the database"
		[ "$(psql "SELECT count(*) FROM kbs_audit")" -ge 1 ] 2>/dev/null ||
			bad "pg profile: no audit record in the database"
		podman exec "${PROJECT}_postgres_1" pg_dump -h /tmp -U kbs postgres >"$W/dump.sql" 2>/dev/null ||
			bad "pg profile: pg_dump failed"
		if grep -q "$SECRET" "$W/dump.sql"; then bad "pg profile: the secret is in clear in a dump"; fi
		if podman run --rm --network=none -v "${PROJECT}_broker-state:/s:ro" "$KBS_IMAGE" \
			test -e /s/broker/resources/default/key/pgdeploy; then
			bad "pg profile: the resource landed in the broker's filesystem repository"
		fi
		[ "$fail" -eq 0 ] && echo "compose: pg profile: resource sealed in PostgreSQL, issuer appraisal state and admin jti in PostgreSQL, guest flow ok ($(( $(date +%s) - t0 )) s)"
	fi
fi

down

# The Kubernetes example database (deploy/k8s/overlays/ha-postgres) is this
# image run with the password and TLS files of KBS_DB_EXAMPLE=1
# make-secrets.sh, laid out as kubelet would (root-owned, group 10002,
# 0440): it must start, speak TLS that verifies for the URL's host name
# with the CA kbs-db holds, take the URL's password, and refuse plaintext.
if [ "$fail" -eq 0 ]; then
	KBS_DB_EXAMPLE=1 deploy/k8s/make-secrets.sh "$W/k8s" >/dev/null 2>&1 || bad "k8s example db: make-secrets.sh"
	mkdir -p "$W/pgs"
	/usr/bin/python3 -c 'import base64, sys, yaml
for s in yaml.safe_load_all(open(sys.argv[1])):
    for k, v in s["data"].items():
        if s["metadata"]["name"] in ("kbs-postgres", "kbs-db"):
            open(sys.argv[2] + "/" + k, "wb").write(base64.b64decode(v))' "$W/k8s/secrets.yaml" "$W/pgs"
	chown -R 0:10002 "$W/pgs" && chmod 0440 "$W"/pgs/* && chmod 0755 "$W/pgs"
	pgport=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	podman run -d --name "${PROJECT}_pgk8s" --user 10002:10002 --read-only --tmpfs /tmp --tmpfs /run/postgresql \
		--cap-drop ALL -v "${PROJECT}_pgk8s-data:/var/lib/kbs-db" -v "$W/pgs:/etc/kbs-postgres:ro" \
		-e KBS_PG_PASSWORD_FILE=/etc/kbs-postgres/password -e KBS_PG_TLS_DIR=/etc/kbs-postgres \
		-p "127.0.0.1:$pgport:5432" "$KBS_PG_IMAGE" >/dev/null 2>"$W/pgk8s.err" || { cat "$W/pgk8s.err"; bad "k8s example db: podman run"; }
	ok=0
	for _ in $(seq 1 60); do
		podman exec "${PROJECT}_pgk8s" /usr/lib/postgresql/15/bin/pg_isready -q -h /tmp -U kbs -d postgres 2>/dev/null && { ok=1; break; }
		sleep 1
	done
	url=$(head -n1 "$W/pgs/url")
	url=${url/@kbs-postgres.kbs-c.svc:5432/@kbs-postgres.kbs-c.svc:$pgport}
	url=${url/sslrootcert=\/etc\/kbs-c\/db\/ca.pem/sslrootcert=$W\/pgs\/ca.pem}
	if [ $ok != 1 ]; then
		podman logs "${PROJECT}_pgk8s" 2>&1 | tail -n 15; bad "k8s example db: did not start"
	elif [ "$(command psql -X -At "$url&hostaddr=127.0.0.1" -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>"$W/psql.err")" != t ]; then
		cat "$W/psql.err"; bad "k8s example db: no verified TLS login with the kbs-db URL"
	elif command psql -X -At "postgresql://kbs:$(cat "$W/pgs/password")@127.0.0.1:$pgport/postgres?sslmode=disable" -c 'SELECT 1' >/dev/null 2>&1; then
		bad "k8s example db: a plaintext login was accepted"
	else
		echo "compose: k8s example database: TLS (verify-full) with the kbs-db URL, plaintext refused"
	fi
	timeout 60 podman rm -f -t 1 "${PROJECT}_pgk8s" >/dev/null 2>&1
	timeout 60 podman volume rm -f "${PROJECT}_pgk8s-data" >/dev/null 2>&1
fi

[ "$fail" -eq 0 ] && echo "compose: up, health checks, guest flow, kmip and pg profiles, k8s example database ok"
[ "$fail" -eq 0 ]
