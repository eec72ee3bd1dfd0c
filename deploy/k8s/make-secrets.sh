#!/bin/bash
# Make the two Secrets the manifests expect, with fresh keys:
#   deploy/k8s/make-secrets.sh OUTDIR [NAMESPACE]
# writes OUTDIR/admin.pem (the operator's admin signing key: keep it, never
# in the cluster), OUTDIR/admin-pub.pem, and OUTDIR/secrets.yaml holding
#   kbs-issuer-keys: session.key (32 random bytes), token-key.pem (EC P-256),
#                    token-cert.pem (its self-signed certificate, sent as x5c)
#   kbs-admin:       admin-pub.pem
#   kbs-db:          url (the PostgreSQL URL of the ha overlay: $KBS_DB_URL,
#                    default a placeholder to edit), kek (the resources'
#                    key-encryption key, 32 random bytes, kept as OUTDIR/kek:
#                    back it up, without it no resource in the database opens)
# With KBS_DB_EXAMPLE=1 (the ha-postgres overlay's PostgreSQL in the
# namespace), also
#   kbs-postgres:    password (random, for the login "kbs"), server.crt and
#                    server.key (TLS for kbs-postgres.NAMESPACE.svc, from a
#                    CA made here and dropped)
# and kbs-db's url names that server with sslmode=verify-full and the CA,
# which kbs-db holds as ca.pem (mounted next to url).
# Apply with `kubectl apply -f OUTDIR/secrets.yaml`, then delete
# secrets.yaml (it holds private keys).  An existing admin key or KEK in
# OUTDIR is kept.  Needs openssl and base64 only.
set -euo pipefail
OUT=${1:?usage: make-secrets.sh OUTDIR [NAMESPACE]}
NS=${2:-kbs-c}
mkdir -p "$OUT"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$OUT/admin.pem" ]; then
	openssl genpkey -algorithm ed25519 -out "$OUT/admin.pem"
fi
openssl pkey -in "$OUT/admin.pem" -pubout -out "$OUT/admin-pub.pem"
[ -f "$OUT/kek" ] || openssl rand -out "$OUT/kek" 32
DB_URL=${KBS_DB_URL:-postgresql://kbs:CHANGE-ME@postgres.example:5432/kbs?sslmode=verify-full}
if [ "${KBS_DB_EXAMPLE:-}" = 1 ]; then
	pghost=kbs-postgres.$NS.svc
	openssl rand -hex 24 | tr -d '\n' >"$tmp/password"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/O=kbs-c/CN=kbs-postgres CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$pghost" \
		-keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:kbs-postgres\nextendedKeyUsage=serverAuth\n' \
		"$pghost" "$pghost" >"$tmp/ext"
	openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
		-days 3650 -extfile "$tmp/ext" -out "$tmp/server.crt" 2>/dev/null
	DB_URL="postgresql://kbs:$(cat "$tmp/password")@$pghost:5432/postgres?sslmode=verify-full&sslrootcert=/etc/kbs-c/db/ca.pem"
fi
printf '%s\n' "$DB_URL" >"$tmp/url"
openssl rand -out "$tmp/session.key" 32
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/token-key.pem"
# The key is mounted read-only: replicas must not each make their own
# self-signed certificate for it (docs/config.md), so make it once here.
openssl req -x509 -key "$tmp/token-key.pem" -subj "/O=kbs-c/CN=kbs-issuer" -days 3650 \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	-addext "keyUsage=critical,digitalSignature,keyCertSign" -out "$tmp/token-cert.pem"

b64() { base64 -w0 <"$1"; }
cat >"$OUT/secrets.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: kbs-issuer-keys
  namespace: $NS
type: Opaque
data:
  session.key: $(b64 "$tmp/session.key")
  token-key.pem: $(b64 "$tmp/token-key.pem")
  token-cert.pem: $(b64 "$tmp/token-cert.pem")
---
apiVersion: v1
kind: Secret
metadata:
  name: kbs-admin
  namespace: $NS
type: Opaque
data:
  admin-pub.pem: $(b64 "$OUT/admin-pub.pem")
---
apiVersion: v1
kind: Secret
metadata:
  name: kbs-db
  namespace: $NS
type: Opaque
data:
  url: $(b64 "$tmp/url")
  kek: $(b64 "$OUT/kek")
YAML
if [ "${KBS_DB_EXAMPLE:-}" = 1 ]; then
	echo "  ca.pem: $(b64 "$tmp/ca.pem")" >>"$OUT/secrets.yaml"
	cat >>"$OUT/secrets.yaml" <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: kbs-postgres
  namespace: $NS
type: Opaque
data:
  password: $(b64 "$tmp/password")
  server.crt: $(b64 "$tmp/server.crt")
  server.key: $(b64 "$tmp/server.key")
YAML
fi
echo "wrote $OUT/secrets.yaml (kbs-issuer-keys, kbs-admin, kbs-db in namespace $NS); admin key: $OUT/admin.pem, KEK: $OUT/kek"
