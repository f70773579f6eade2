#!/usr/bin/env bash
# Builds the images the Docker runtime's tests run, from Debian's busybox-static
# (no registry is needed): swarmkit-test/busybox:latest and :v2, the same
# content with a different label, so a rolling update really changes the image.
# Skips an image that exists already. Needs a reachable Docker engine.
set -euo pipefail

repository=swarmkit-test/busybox
tags=(latest v2)

if ! docker info >/dev/null 2>&1; then
  echo "test-image: no Docker engine answers (docker info failed); nothing built" >&2
  exit 1
fi

missing=()
for tag in "${tags[@]}"; do
  docker image inspect "$repository:$tag" >/dev/null 2>&1 || missing+=("$tag")
done
if ((${#missing[@]} == 0)); then
  echo "test-image: $repository:${tags[0]} and :${tags[1]} present"
  exit 0
fi

if [[ ! -x /bin/busybox ]] || ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "test-image: installing busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# A root file system: busybox, one symlink per applet (so `sh -c ...` and
# `sleep` run with no entrypoint), the users that `--user` names, and /tmp.
root="$context/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ "$applet" == busybox ]] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ARG VERSION
LABEL com.swarmkit-py.test-image.version=$VERSION
CMD ["sh"]
DOCKERFILE

for tag in "${missing[@]}"; do
  echo "test-image: building $repository:$tag"
  # The classic builder: it needs no buildx plugin (not installed here) and no
  # registry; its deprecation notice is shown only if the build fails.
  if ! DOCKER_BUILDKIT=0 docker build -q --build-arg "VERSION=$tag" -t "$repository:$tag" \
    "$context" >"$context/build.log" 2>&1; then
    cat "$context/build.log" >&2
    exit 1
  fi
done
echo "test-image: built $repository:${missing[*]}"
