# Shared by the deploy-stage scripts (sourced).  ROOT is the source tree.

# podman_usable: 0 if podman can run a container here; otherwise prints why
# (the caller skips with that reason).
podman_usable() {
	if ! command -v podman >/dev/null; then echo "podman is not installed"; return 1; fi
	local err
	if ! err=$(timeout 60 podman info 2>&1 >/dev/null); then
		echo "podman cannot run here: $(tail -n 1 <<<"$err")"; return 1
	fi
	return 0
}

# wait_http URL SECONDS: until URL answers 200.
wait_http() {
	local i
	for ((i = 0; i < $2 * 4; i++)); do
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	echo "no 200 from $1 within $2 s"
	return 1
}

# guest_flow CLIENT ISSUER BROKER ADMIN_KEY WORKDIR: the operator stores a
# secret through the admin API, a guest (sample TEE) attests to ISSUER,
# presents the token to BROKER and must get the secret back.  Prints what
# failed; returns non-zero on any failure.
guest_flow() {
	local client=$1 issuer=$2 broker=$3 admin=$4 w=$5 secret token got
	secret="deploy test secret $RANDOM$RANDOM"
	"$client" --insecure-http --timeout 20 --url "$broker" set-resource --admin-key "$admin" \
		--path default/key/deploy --value "$secret" >"$w/set.out" 2>&1 ||
		{ echo "set-resource failed: $(tail -n 3 "$w/set.out")"; return 1; }
	token=$("$client" --insecure-http --timeout 20 --url "$issuer" attest --tee-key-out "$w/tee.pem" 2>"$w/attest.err") ||
		{ echo "attest failed: $(tail -n 3 "$w/attest.err")"; return 1; }
	got=$("$client" --insecure-http --timeout 20 get-resource --broker "$broker" --path default/key/deploy \
		--token "$token" --tee-key "$w/tee.pem" 2>"$w/get.err") ||
		{ echo "get-resource failed: $(tail -n 3 "$w/get.err")"; return 1; }
	[ "$got" = "$secret" ] || { echo "released secret differs from the stored one"; return 1; }
	# A forged token is refused: the flow is not an allow-all.
	if "$client" --insecure-http --timeout 20 get-resource --broker "$broker" --path default/key/deploy \
		--token "${token%.*}.AAAA" --tee-key "$w/tee.pem" >/dev/null 2>&1; then
		echo "a token with a forged signature got the secret"; return 1
	fi
	return 0
}
