#!/bin/sh
# First start: a cluster with one login, "kbs".  Every start: serve on the
# network, SCRAM passwords over TCP.
#  - compose (compose.pg.yaml): a random password that only the URL file in
#    the client volume holds (brokers and issuers mount it read-only as
#    postgres.url_file; docs/deployment.md).
#  - Kubernetes (deploy/k8s/overlays/ha-postgres): the password comes from
#    the file KBS_PG_PASSWORD_FILE (a Secret; the kbs-db Secret holds the
#    matching URL) and no URL file is written; with KBS_PG_TLS_DIR
#    (server.crt, server.key) the server speaks TLS and refuses logins
#    without it, for sslmode=verify-full.
set -eu
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/kbs-db/data
CLIENT=/var/lib/kbs-db/client
umask 077
if [ ! -s "$DATA/PG_VERSION" ]; then
	if [ -n "${KBS_PG_PASSWORD_FILE:-}" ]; then
		pwfile=$KBS_PG_PASSWORD_FILE
	else
		openssl rand -hex 24 >/tmp/pw
		pwfile=/tmp/pw
	fi
	"$BIN/initdb" -D "$DATA" -U kbs --pwfile="$pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 >/dev/null
	host=host
	[ -n "${KBS_PG_TLS_DIR:-}" ] && host=hostssl
	printf '%s all kbs 0.0.0.0/0 scram-sha-256\n%s all kbs ::/0 scram-sha-256\n' \
		"$host" "$host" >>"$DATA/pg_hba.conf"
	if [ -z "${KBS_PG_PASSWORD_FILE:-}" ]; then
		pw=$(cat /tmp/pw)
		rm -f /tmp/pw
		# Readable by the kbs-c images' uid through the group-less
		# volume: the file is the only copy of the password.
		umask 022
		printf 'postgresql://kbs:%s@postgres:5432/postgres\n' "$pw" >"$CLIENT/url.tmp"
		chmod 0644 "$CLIENT/url.tmp"
		mv "$CLIENT/url.tmp" "$CLIENT/url"
		umask 077
	fi
fi
if [ -n "${KBS_PG_TLS_DIR:-}" ]; then
	exec "$BIN/postgres" -D "$DATA" -c listen_addresses='*' \
		-c unix_socket_directories=/tmp -c ssl=on \
		-c ssl_cert_file="$KBS_PG_TLS_DIR/server.crt" \
		-c ssl_key_file="$KBS_PG_TLS_DIR/server.key"
fi
exec "$BIN/postgres" -D "$DATA" -c listen_addresses='*' \
	-c unix_socket_directories=/tmp
