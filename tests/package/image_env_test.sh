#!/usr/bin/env bash
# The image's configuration (the Dockerfile's ENV, its CMD file) checked by the packaged binary.
# Usage: image_env_test.sh ROOT DOCKERFILE, ROOT being the .deb installed by deb_test.sh (the image
# installs that same .deb). No Docker engine here: this is as near to `docker run` as CI gets.
set -euo pipefail
root=$1
dockerfile=$2
mapfile -t vars < <(sed -n 's/^\(ENV \)\{0,1\} *\(PGFUNNEL_[A-Z_]*=[^ \\]*\).*/\2/p' "$dockerfile")
file=$(sed -n 's/^CMD \["\(.*\)"\]$/\1/p' "$dockerfile")
((${#vars[@]} > 0)) || { echo "FAIL no PGFUNNEL_* ENV in $dockerfile"; exit 1; }
echo "ENV ${vars[*]}; CMD $file"
out=$(env -i "${vars[@]}" PGFUNNEL_UPSTREAM=postgres://app:secret@db:5432/app \
  /usr/sbin/chroot "$root" /usr/bin/pgfunnel --check-config "$file" 2>&1) || { echo "FAIL --check-config:"; echo "$out"; exit 1; }
for v in "${vars[@]}"; do
  key=${v%%=*}
  if ! grep -qE "# env $key\$" <<<"$out"; then echo "FAIL $key is not what the setting came from:"; echo "$out"; exit 1; fi
done
if grep -q '^pgfunnel: warning' <<<"$out"; then echo "FAIL warnings with the image's settings:"; echo "$out"; exit 1; fi
echo "pass the image's settings load from the environment with no warning"
