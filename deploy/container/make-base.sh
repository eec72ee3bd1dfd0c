#!/bin/bash
# Make the Debian base image the Containerfile builds on, from Debian's
# own packages, where no container registry is reachable:
#   deploy/container/make-base.sh [IMAGE]     (default localhost/debian:bookworm)
# Skipped when IMAGE exists already (podman's image store is the cache).
# Needs mmdebstrap and podman; uses the machine's apt sources.
set -euo pipefail
IMAGE=${1:-localhost/debian:bookworm}
SUITE=${KBS_BASE_SUITE:-bookworm}

if podman image exists "$IMAGE"; then
	echo "make-base: $IMAGE exists, not rebuilt"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
mmdebstrap --quiet --variant=minbase "$SUITE" "$tmp/rootfs.tar"
podman import --quiet "$tmp/rootfs.tar" "$IMAGE" >/dev/null
echo "make-base: $IMAGE made with mmdebstrap in $(( $(date +%s) - start )) s"
