#!/bin/bash
# Make the two Secrets the manifests expect, with fresh keys:
#   deploy/k8s/make-secrets.sh OUTDIR [NAMESPACE]
# writes OUTDIR/admin.pem (the operator's admin signing key: keep it, never
# in the cluster), OUTDIR/admin-pub.pem, and OUTDIR/secrets.yaml holding
#   kbs-issuer-keys: session.key (32 random bytes), token-key.pem (EC P-256),
#                    token-cert.pem (its self-signed certificate, sent as x5c)
#   kbs-admin:       admin-pub.pem
# Apply with `kubectl apply -f OUTDIR/secrets.yaml`, then delete
# secrets.yaml (it holds private keys).  An existing admin key in OUTDIR is
# kept.  Needs openssl and base64 only.
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
YAML
echo "wrote $OUT/secrets.yaml (kbs-issuer-keys, kbs-admin in namespace $NS); admin key: $OUT/admin.pem"
