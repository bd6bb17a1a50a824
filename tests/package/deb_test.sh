#!/usr/bin/env bash
# The .deb as an admin meets it: contents, conffile, Depends, a fresh root it installs into, the unit.
# Usage: deb_test.sh DEB ROOT. ROOT (created, must not exist) keeps the installed tree for later tests.
set -uo pipefail
deb=$1
root=$2
failures=0
pass() { printf 'pass %s\n' "$1"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
check() {  # check NAME COMMAND...: passes when COMMAND exits 0
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name:"$'\n'"$out"; fi
}

version=$(dpkg-deb -f "$deb" Version)
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/pgfunnel ./etc/pgfunnel/pgfunnel.yaml ./usr/lib/systemd/system/pgfunnel.service \
  ./usr/share/man/man1/pgfunnel.1.gz ./usr/share/doc/pgfunnel/copyright ./usr/share/doc/pgfunnel/changelog.Debian.gz; do
  if grep -qxF "$f" <<<"$contents"; then pass "holds $f"; else fail "holds $f: not in the package"; fi
done
check "the config is a conffile" sh -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/pgfunnel/pgfunnel.yaml"
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends names the shared libraries (dpkg-shlibdeps): $depends" grep -q 'libyaml-cpp' <<<"$depends"
# Every dependency is satisfied here: apt would install pgfunnel alone, nothing else.
check "apt finds every dependency installed" sh -c \
  "apt-get install -s --no-download '$(readlink -f "$deb")' 2>&1 | awk '/^Inst /{ print \$2 }' | grep -vx pgfunnel | { ! grep .; }"
changelog_version=$(zcat <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/pgfunnel/changelog.Debian.gz) |
  dpkg-parsechangelog -l - -S Version 2>&1)
check "the changelog's version is the package's ($version)" test "$changelog_version" = "$version"

# A fresh root with its own dpkg database: dpkg installs and registers the package (conffile and
# all) there. Its libraries come from this machine, copied in as ldd finds them, so the binary runs
# under chroot with nothing of the host's /usr around it.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/tmp" "$root/run"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
check "dpkg --root installs it" dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb"
check "dpkg registers the conffile" sh -c "dpkg --root='$root' -s pgfunnel | grep -A1 '^Conffiles:' | grep -q ' /etc/pgfunnel/pgfunnel.yaml '"
for lib in $(ldd "$root/usr/bin/pgfunnel" | grep -o '/[^ ]*'); do cp -L --parents "$lib" "$root"; done
check "pgfunnel --version in the root" sh -c "chroot '$root' /usr/bin/pgfunnel --version | grep -qx 'pgfunnel ${version%-*}'"
check "pgfunnel --check-config /etc/pgfunnel/pgfunnel.yaml in the root" sh -c \
  "chroot '$root' /usr/bin/pgfunnel --check-config /etc/pgfunnel/pgfunnel.yaml | grep -qF 'configuration OK (/etc/pgfunnel/pgfunnel.yaml)'"
check "the man page is --help's (names --check-config FILE)" sh -c \
  "MANWIDTH=100 man -P cat -l '$root/usr/share/man/man1/pgfunnel.1.gz' 2>/dev/null | grep -q 'check-config \\[FILE\\]'"

# systemd's own checker on the unit as installed: directives and ExecStart binaries (--man=no: the
# host's man cannot see the root's page; the man page check above reads it).
unit=$root/usr/lib/systemd/system/pgfunnel.service
# shellcheck disable=SC2016 # $MAINPID is the unit's text, for systemd to expand
for directive in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' KillSignal=SIGTERM DynamicUser=yes \
  ProtectSystem=strict NoNewPrivileges=yes LimitNOFILE=65536; do
  check "unit sets $directive" grep -qxF "$directive" "$unit"
done
check "unit has no AmbientCapabilities" sh -c "! grep -q '^AmbientCapabilities' '$unit'"
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
drain=$(chroot "$root" /usr/bin/pgfunnel --check-config /etc/pgfunnel/pgfunnel.yaml | sed -n 's/^shutdown_timeout *= *\([0-9]*\)s.*/\1/p')
check "TimeoutStopSec ($stop s) is above shutdown_timeout ($drain s)" test "${stop:-0}" -gt "${drain:-999}"
if command -v systemd-analyze >/dev/null; then
  # --root: ExecStart's binaries are looked for in the installed tree (kill comes from the host's),
  # and the targets the unit hangs off (sysinit.target, ...) are systemd's own, copied in beside it.
  mkdir -p "$root/bin" && cp -L /bin/kill "$root/bin/kill"
  cp -an /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/"
  out=$(systemd-analyze verify --man=no --root="$root" /usr/lib/systemd/system/pgfunnel.service 2>&1)
  rc=$?
  # It exits 0 on a misspelt directive, so any line naming pgfunnel.service is a failure too; the
  # host's other units are not ours to judge.
  ours=$(grep -i 'pgfunnel' <<<"$out" || true)
  if [[ $rc -eq 0 && -z $ours ]]; then pass "systemd-analyze verify"; else fail "systemd-analyze verify (rc $rc):"$'\n'"$out"; fi
else
  fail "systemd-analyze verify: systemd-analyze not installed (scripts/bootstrap installs systemd)"
fi

((failures == 0)) || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
