#!/usr/bin/env bash
# The packaging test: the .deb and the wheel that scripts/package.sh built, installed on a clean
# Debian 12 (debootstrap --variant=minbase bookworm chroot under target/packaging, with no
# compiler and no Rust), then used and removed there (tests/packaging/in_chroot.sh lists the
# checks). The chroot is made afresh from a cached debootstrap tarball each run; /proc, /dev and
# /sys are bound in and unmounted on every exit, failures included. Needs root.
. "$(dirname "$0")/../../scripts/lib.sh"
. "$ROOT/tests/packaging/chroot.sh"
cd "$ROOT"
[ "$(id -u)" = 0 ] || { log "the packaging test needs root (debootstrap, mount, chroot)"; exit 1; }

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
DEB=$(ls target/debian/postgresql-15-pg-purchase_"$VERSION"_*.deb 2>/dev/null | head -n 1)
WHEEL=target/python/pg_purchase-$VERSION-py3-none-any.whl
[ -f "$DEB" ] && [ -f "$WHEEL" ] || { log "run scripts/package.sh first (no .deb or wheel of $VERSION)"; exit 1; }
command -v debootstrap >/dev/null || {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
}

CHROOT="$ROOT/target/packaging/chroot"
stop_chroot() {
  # A cluster the test left running (it failed half-way) holds files open: stop it first.
  if [ -f "$CHROOT/pkgtest/pg/data/postmaster.pid" ]; then
    in_chroot "$CHROOT" runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl \
      -D /pkgtest/pg/data -m immediate stop >/dev/null 2>&1 || true
  fi
  chroot_umount "$CHROOT"
}
trap stop_chroot EXIT

started=$(date +%s)
log "packaging test: a clean Debian 12 chroot ($CHROOT)"
stop_chroot
chroot_create "$CHROOT"
chroot_mount "$CHROOT"

# What the test needs inside: the two packages, the frozen scripts to compare with, the checks,
# real rows with scikit-learn's p_hat (generated here: the reference data never enters the repo).
work="$CHROOT/pkgtest"
mkdir -p "$work"
cp "$DEB" "$WHEEL" tests/packaging/in_chroot.sh tests/packaging/byom.py "$work/"
cp -r sql "$work/sql"
cp "$SHARED_DATA/exercise_26_test_first1000rows_raw.json" "$work/real_rows.json"
"$PY" tests/packaging/reference_rows.py "$work/reference_rows.sql" 5
chmod -R a+rX "$work"
# pip reaches PyPI through the host's network: trust the CAs the host trusts for it.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$CHROOT/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$CHROOT/usr/local/share/ca-certificates/"
  in_chroot "$CHROOT" bash -c 'apt-get update -qq && apt-get install -y -qq ca-certificates >/dev/null && update-ca-certificates >/dev/null'
fi

in_chroot "$CHROOT" PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
  bash /pkgtest/in_chroot.sh "$VERSION"

stop_chroot
rm -rf "$CHROOT"
log "packaging test passed in $(($(date +%s) - started)) s"
