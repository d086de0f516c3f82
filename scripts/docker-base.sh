#!/usr/bin/env bash
# docker-base.sh - make sure the image `debian:bookworm-slim` exists for the
# Dockerfiles in deploy/. Where no image registry can be reached it is built
# here: debootstrap (minbase) from the Debian mirror this machine's apt
# already uses, trimmed like the official slim image, then `docker import`.
# The mirror is read from the apt configuration at run time, never stored.
# `--apt-args` only prints APT_MIRROR=... and APT_SECURITY_MIRROR=... (the
# build arguments of deploy/Dockerfile*), for tests/deploy/compose_check.sh.
set -euo pipefail
IMAGE=debian:bookworm-slim
SUITE=bookworm
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

# The Debian mirror apt uses for SUITE (or SUITE-security with $1 =
# -security), from apt's own view of its sources (one-line and deb822
# files alike); empty if none.
apt_mirror() {
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
	apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' \
		2>/dev/null | awk -v s="$SUITE$1" '$1 == "deb" && $2 == s {
			sub("/$", "", $3); print $3; exit }'
}

if [ "${1:-}" = --apt-args ]; then
	echo "APT_MIRROR=$(apt_mirror '')"
	echo "APT_SECURITY_MIRROR=$(apt_mirror -security)"
	exit 0
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "docker-base: $IMAGE is present" >&2
	exit 0
fi

mirror=$(apt_mirror '')
if [ -z "$mirror" ]; then
	echo "docker-base: no 'deb ... $SUITE' source in the apt configuration" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	echo "docker-base: installing debootstrap" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

root=$(mktemp -d /var/tmp/riskd-rootfs.XXXXXX)
cleanup() {
	# debootstrap mounts /proc and /sys inside; never delete through them.
	awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do $SUDO umount -l "$m" || :; done
	$SUDO rm -rf --one-file-system "$root"
}
trap cleanup EXIT

t0=$(date +%s)
echo "docker-base: debootstrap --variant=minbase $SUITE (apt's Debian mirror)" >&2
$SUDO debootstrap --variant=minbase "$SUITE" "$root" "$mirror" \
	>"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
t1=$(date +%s)

# What the official slim image does: no docs, man pages or translations in
# later installs, apt caches cleaned after each run, no recommends kept.
$SUDO tee "$root/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
$SUDO tee "$root/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::AutoRemove::SuggestsImportant "false";
CFG
# Host files debootstrap copied in (docker supplies its own at run time),
# the package lists and caches, and the documentation already installed.
$SUDO rm -rf "$root"/etc/resolv.conf "$root"/etc/hostname \
	"$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
	"$root"/var/log/*.log "$root"/usr/share/man/* "$root"/usr/share/info/* \
	"$root"/usr/share/locale/*
$SUDO find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d \
	-delete
$SUDO tar --numeric-owner -C "$root" -c . |
	docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' \
		--message "debootstrap --variant=minbase $SUITE (scripts/docker-base.sh)" \
		- "$IMAGE" >/dev/null
t2=$(date +%s)
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "docker-base: built $IMAGE: debootstrap $((t1 - t0)) s, import $((t2 - t1)) s, $((size / 1000000)) MB" >&2
