# A clean Debian 12 chroot for the packaging test: debootstrap --variant=minbase bookworm, the
# host's apt sources, /proc /dev /sys bound in, a policy-rc.d that refuses service starts.
# Source it; it needs root (debootstrap, mount, chroot).
#
#   chroot_create DIR      a fresh chroot in DIR, from a cached debootstrap tarball (made once)
#   chroot_mount DIR       bind /proc, /dev, /sys (chroot_umount DIR undoes it; call it from a trap)
#   in_chroot DIR CMD...   runs CMD inside as root with a clean environment
set -euo pipefail

# The debootstrap result, cached: a rerun extracts it (seconds) instead of downloading and
# unpacking ~90 packages (minutes). Delete it to check the from-scratch path.
CHROOT_CACHE="${CHROOT_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/packaging/bookworm-minbase.tar}"

# The first Debian mirror the host's apt uses (deb822 .sources or one-line sources.list).
host_debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}')
  [ -n "$uri" ] || uri=$(grep -hs '^deb .* bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | head -n 1)
  echo "${uri:-http://deb.debian.org/debian}"
}

chroot_create() {
  local dir="$1"
  if [ ! -s "$CHROOT_CACHE" ]; then
    local fresh="$CHROOT_CACHE.d" mirror
    mirror=$(host_debian_mirror)
    echo "debootstrap --variant=minbase bookworm from $mirror (cached in $CHROOT_CACHE)" >&2
    rm -rf "$fresh"; mkdir -p "$fresh"
    debootstrap --variant=minbase bookworm "$fresh" "$mirror" >"$CHROOT_CACHE.log" 2>&1 ||
      { tail -n 30 "$CHROOT_CACHE.log" >&2; rm -rf "$fresh"; return 1; }
    tar -C "$fresh" -cf "$CHROOT_CACHE.tmp" . && mv "$CHROOT_CACHE.tmp" "$CHROOT_CACHE"
    rm -rf "$fresh"
  fi
  rm -rf "$dir"; mkdir -p "$dir"
  tar -C "$dir" -xf "$CHROOT_CACHE"
  # Only the host's package registries are reachable: use its sources (and its apt settings
  # for them, e.g. a snapshot mirror's Check-Valid-Until), not debootstrap's one-line default.
  rm -f "$dir/etc/apt/sources.list"
  cp /etc/apt/sources.list "$dir/etc/apt/" 2>/dev/null || true
  find /etc/apt/sources.list.d -maxdepth 1 \( -name '*.list' -o -name '*.sources' \) \
    -exec cp {} "$dir/etc/apt/sources.list.d/" \;
  grep -rhs '^Acquire::' /etc/apt/apt.conf.d/ >"$dir/etc/apt/apt.conf.d/50host-acquire" || true
  # Keyrings a host source is signed with (Signed-By) must exist in the chroot too.
  grep -hs '^Signed-By:' "$dir"/etc/apt/sources.list.d/*.sources | awk '{print $2}' | while read -r key; do
    [ -f "$dir$key" ] || { [ -f "$key" ] && cp "$key" "$dir$key"; } || true
  done
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # Package scripts must not start services (PostgreSQL is started by the test, as postgres).
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
}

chroot_mount() {
  local dir="$1" m
  for m in proc sys; do
    mountpoint -q "$dir/$m" || mount --bind "/$m" "$dir/$m"
  done
  # /dev recursively: PostgreSQL's shared memory lives in /dev/shm. As a slave, an unmount
  # under the chroot never propagates back to the host's /dev.
  if ! mountpoint -q "$dir/dev"; then
    mount --rbind /dev "$dir/dev"
    mount --make-rslave "$dir/dev"
  fi
}

# Unmounts whatever is mounted under DIR (deepest first); safe to call twice or after a failure.
chroot_umount() {
  local dir m
  dir=$(readlink -f "$1") || return 0
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

in_chroot() {
  local dir="$1"; shift
  chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
