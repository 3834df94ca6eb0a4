#!/usr/bin/env bash
# Builds what a release ships (RELEASING.md), both named after Cargo.toml's version:
#   target/debian/postgresql-15-pg-purchase_<version>_<arch>.deb   the extension, for apt
#   target/python/pg_purchase-<version>-py3-none-any.whl           the exporter, for pip
# The .deb is `cargo pgrx package` output (release build, laid out for Debian's PostgreSQL 15:
# /usr/lib/postgresql/15/lib and /usr/share/postgresql/15/extension) plus every frozen script of
# sql/, the bundled model, README, copyright and changelog, put together with dpkg-deb and checked
# with lintian (warnings fail the build; packaging/debian/lintian-overrides explains the rest).
# The wheel is `python3 -m build ./python`. Nothing is installed on this machine.
#
#   PACKAGE_PG_CONFIG   the pg_config whose layout the .deb uses (default Debian's PostgreSQL 15)
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

PACKAGE=postgresql-15-pg-purchase
PACKAGE_PG_CONFIG="${PACKAGE_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
DEBIAN_SRC="$ROOT/packaging/debian"

install_package_tools() {
  local pkgs=(dpkg-dev lintian python3-build python3-setuptools python3-wheel python3-venv) missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The one version: Cargo.toml's workspace.package. The Python package, the Debian changelog and
# README's Install section must say the same (tests/packaging/test_versions.py checks it too).
cargo_version() { sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml"; }
check_versions() {
  local v="$1" py deb
  py=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/python/pg_purchase/__init__.py")
  deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$DEBIAN_SRC/changelog")
  [ "$py" = "$v" ] || { log "python/pg_purchase/__init__.py says $py, Cargo.toml $v"; return 1; }
  [ "$deb" = "$v" ] || { log "packaging/debian/changelog's top entry is $deb, Cargo.toml $v (add an entry)"; return 1; }
  grep -q "${PACKAGE}_${v}_amd64.deb" README.md ||
    { log "README's Install section does not name ${PACKAGE}_${v}_amd64.deb"; return 1; }
  (cd sql && sha256sum --check --strict --quiet SHA256SUMS) || { log "a released SQL script changed"; return 1; }
}

# Release build and package layout; the build's output goes to target/pgrx-package.log.
pgrx_package() {
  local out="$1" logf="$ROOT/target/pgrx-package.log"
  log "cargo pgrx package (release build) for $("$PACKAGE_PG_CONFIG" --version)"
  rm -rf "$out"
  if ! cargo pgrx package --pg-config "$PACKAGE_PG_CONFIG" --out-dir "$out" >"$logf" 2>&1; then
    tail -n 60 "$logf" >&2; log "build failed (full log: $logf)"; return 1
  fi
}

# The libraries pg_purchase.so needs at run time, as Depends (dpkg-shlibdeps wants a
# debian/control beside it; the postgres symbols it leaves undefined come from the server).
shlibs_depends() {
  local so="$1" dir; dir=$(mktemp -d)
  mkdir -p "$dir/debian"
  printf 'Source: pg-purchase\n\nPackage: %s\nArchitecture: any\n' "$PACKAGE" >"$dir/debian/control"
  (cd "$dir" && dpkg-shlibdeps -O --warnings=0 -e"$so" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
  rm -rf "$dir"
}

build_deb() {
  local v="$1" arch stage pgrx_out lib ext doc share so deps
  arch=$(dpkg --print-architecture)
  stage="$ROOT/target/debian/stage"; pgrx_out="$ROOT/target/debian/pgrx-package"
  lib=$("$PACKAGE_PG_CONFIG" --pkglibdir); ext="$("$PACKAGE_PG_CONFIG" --sharedir)/extension"
  doc="/usr/share/doc/$PACKAGE"; share="/usr/share/$PACKAGE"
  pgrx_package "$pgrx_out"
  rm -rf "$stage"; mkdir -p "$stage/DEBIAN" "$stage$lib" "$stage$ext" "$stage$doc" "$stage$share"

  so="$stage$lib/pg_purchase.so"
  install -m 644 "$pgrx_out$lib/pg_purchase.so" "$so"
  # What dh_strip does: debug symbols and notes out; the exported PG_FUNCTION_INFO symbols stay.
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$so"
  install -m 644 "$pgrx_out$ext/pg_purchase.control" "$pgrx_out$ext/pg_purchase--$v.sql" "$stage$ext/"
  grep -q "^default_version = '$v'" "$stage$ext/pg_purchase.control" ||
    { log "the packaged control file's default_version is not $v"; return 1; }
  # Every frozen script (earlier versions' install scripts and the whole upgrade chain): cargo
  # pgrx writes only the current version's script. A frozen script never replaces it.
  [ ! -e "sql/pg_purchase--$v.sql" ] || { log "sql/ holds an install script of $v, the version being built"; return 1; }
  install -m 644 sql/pg_purchase--*.sql "$stage$ext/"

  install -m 644 artifacts/purchase_model.json "$stage$share/purchase_model.json"
  install -m 644 "$DEBIAN_SRC/copyright" "$stage$doc/copyright"
  gzip -9n <"$DEBIAN_SRC/changelog" >"$stage$doc/changelog.gz"
  gzip -9n <README.md >"$stage$doc/README.md.gz"
  chmod 644 "$stage$doc"/*.gz
  if [ -f "$DEBIAN_SRC/lintian-overrides" ]; then
    install -D -m 644 "$DEBIAN_SRC/lintian-overrides" "$stage/usr/share/lintian/overrides/$PACKAGE"
  fi

  deps=$(shlibs_depends "$so")
  [ -n "$deps" ] || { log "dpkg-shlibdeps found no libraries for pg_purchase.so"; return 1; }
  sed -e "s/@VERSION@/$v/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS_DEPENDS@/$deps/" \
    -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" \
    "$DEBIAN_SRC/control.in" >"$stage/DEBIAN/control"
  (cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -type d -exec chmod 755 {} +

  DEB="$ROOT/target/debian/${PACKAGE}_${v}_${arch}.deb"
  rm -f "$ROOT/target/debian/${PACKAGE}"_*.deb
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$DEB" >/dev/null
  log "built $DEB (Depends: $(sed -n 's/^Depends: //p' "$stage/DEBIAN/control"))"
  log "lintian"
  lintian --fail-on error,warning --display-info --allow-root "$DEB"
}

build_wheel() {
  local v="$1" out="$ROOT/target/python"
  log "python3 -m build ./python"
  rm -rf "$out"
  # Debian's python3 with its build, setuptools and wheel (apt): no download, the same each time.
  /usr/bin/python3 -m build --no-isolation --outdir "$out" "$ROOT/python" >"$ROOT/target/python-build.log" 2>&1 ||
    { tail -n 40 "$ROOT/target/python-build.log" >&2; return 1; }
  rm -rf "$ROOT/python/build" "$ROOT"/python/*.egg-info
  WHEEL="$out/pg_purchase-$v-py3-none-any.whl"
  [ -f "$WHEEL" ] || { log "expected $WHEEL; built: $(ls "$out")"; return 1; }
  log "built $WHEEL"
}

install_package_tools
VERSION=$(cargo_version)
[ -n "$VERSION" ] || { log "no version in Cargo.toml's [workspace.package]"; exit 1; }
check_versions "$VERSION"
mkdir -p "$ROOT/target/debian"
build_deb "$VERSION"
build_wheel "$VERSION"
