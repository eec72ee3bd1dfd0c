#!/bin/sh
# First start: a cluster with one login, "kbs", whose random password only
# the URL file in the client volume holds (the brokers and issuers mount it
# read-only as postgres.url_file; docs/deployment.md).  Every start: serve
# on the compose network, SCRAM passwords over TCP.
set -eu
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/kbs-db/data
CLIENT=/var/lib/kbs-db/client
umask 077
if [ ! -s "$DATA/PG_VERSION" ]; then
	pw=$(openssl rand -hex 24)
	printf '%s\n' "$pw" >/tmp/pw
	"$BIN/initdb" -D "$DATA" -U kbs --pwfile=/tmp/pw --auth-local=trust \
		--auth-host=scram-sha-256 >/dev/null
	rm -f /tmp/pw
	echo "host all kbs 0.0.0.0/0 scram-sha-256" >>"$DATA/pg_hba.conf"
	# Readable by the kbs-c images' uid through the group-less volume:
	# the file is the only copy of the password.
	umask 022
	printf 'postgresql://kbs:%s@postgres:5432/postgres\n' "$pw" >"$CLIENT/url.tmp"
	chmod 0644 "$CLIENT/url.tmp"
	mv "$CLIENT/url.tmp" "$CLIENT/url"
	umask 077
fi
exec "$BIN/postgres" -D "$DATA" -c listen_addresses='*' \
	-c unix_socket_directories=/tmp
