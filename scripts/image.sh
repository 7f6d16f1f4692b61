#!/usr/bin/env bash
# Builds keygate's container image from the static binary of `make dist` into an OCI
# archive. Usage: scripts/image.sh BINARY OUT.tar [STATE_DIR]
# buildah keeps its storage (vfs) under STATE_DIR (default: next to OUT), never in the
# system's; `--timestamp 0` makes the same inputs give the same digest. Prints the
# archive's path and the image's digest.
set -euo pipefail

bin="$1"
out="$2"
here="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="$(cd "$(dirname "$out")" && pwd)"
state="${3:-$out_dir/buildah}"
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n1)"
revision="$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)"
source="${IMAGE_SOURCE:-https://github.com/keygate/keygate}"
tag="localhost/keygate:$version"

for tool in buildah skopeo; do
  command -v "$tool" >/dev/null || { echo "image.sh: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "image.sh: no binary at $bin (make dist builds it)" >&2; exit 1; }
[ -s "$ca" ] || { echo "image.sh: no CA bundle at $ca (Debian: ca-certificates)" >&2; exit 1; }
# A static(-pie) binary names no shared library (ldd prints no "=>").
if ldd "$bin" 2>&1 | grep -q "=>"; then
  echo "image.sh: $bin is dynamically linked; the image needs the static build (make dist)" >&2
  exit 1
fi

# The build context holds exactly what the image gets.
ctx="$state/context"
rm -rf "$ctx"
mkdir -p "$ctx/data"
cp "$bin" "$ctx/keygate"
cp "$ca" "$ctx/ca-certificates.crt"

# The runroot (locks, sockets) goes to a short /tmp dir: podman and buildah refuse long
# runroot paths, and a checkout's target/ can be deep.
runroot="$(mktemp -d /tmp/kgba-XXXXXX)"
trap 'rm -rf "$runroot"' EXIT
ba=(buildah --root "$state/root" --runroot "$runroot" --storage-driver vfs)
"${ba[@]}" bud --quiet --isolation chroot --timestamp 0 --layers=false \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg SOURCE="$source" \
  -f "$here/Containerfile" -t "$tag" "$ctx" >/dev/null
rm -f "$out"
"${ba[@]}" push --quiet --format oci "$tag" "oci-archive:$out:$tag"
"${ba[@]}" rmi --all --force >/dev/null
digest="$(skopeo inspect --format '{{.Digest}}' "oci-archive:$out")"
echo "$out $digest"
