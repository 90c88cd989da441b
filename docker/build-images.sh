#!/usr/bin/env bash
# Builds the Docker images of the PACOM swarms without any container registry:
#
#   pacom/base:bookworm    a Debian bookworm root filesystem made by debootstrap
#                          from the host's Debian mirror, imported with `docker import`
#   pacom/libtorrent:latest base + python3-libtorrent + docker/libtorrent/popular.py
#                          (a plain BitTorrent peer for the popular-torrent swarm)
#   pacom/node:latest      base + the `pacom` binary (ENTRYPOINT pacom)
#
# Usage:
#   docker/build-images.sh            # build what is missing, rebuild pacom/node
#   docker/build-images.sh --rebuild  # rebuild everything, base root filesystem included
#
# Environment:
#   PACOM_BIN          a `pacom` binary to put in pacom/node; without it the
#                      script runs `cargo build --release -p pacom-cli`
#   DEBIAN_MIRROR      the Debian mirror for debootstrap; default: the host's apt source
#   PACOM_DOCKER_CACHE where downloaded packages are kept between runs
#                      (default: ${XDG_CACHE_HOME:-$HOME/.cache}/pacom-docker)
#
# Needs root (debootstrap, chroot) the first time, and a running Docker engine.
# No container ever needs network access: packages are fetched by debootstrap and
# apt on the host side and installed offline inside the image builds.
set -euo pipefail

SUITE=bookworm
BASE_IMAGE=pacom/base:bookworm
LT_IMAGE=pacom/libtorrent:latest
NODE_IMAGE=pacom/node:latest
BASE_PACKAGES=iproute2,tcpdump,iputils-ping,ca-certificates,procps
LT_PACKAGES=(python3-libtorrent)

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${PACOM_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pacom-docker}"
debs="$cache/libtorrent-debs"

rebuild=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    -h | --help)
      sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-images: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { echo "build-images: $*"; }
die() {
  echo "build-images: error: $*" >&2
  exit 1
}

# The engine here may lack the buildx plugin; the classic builder needs no network
# and no registry when every FROM is a local image.
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# docker build without network (every input is in the context), log shown on failure.
# A replaced image is removed, so repeated runs do not pile up dangling images.
build_image() {
  local tag="$1" dir="$2" old new
  old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  docker build --network none --force-rm -t "$tag" "$dir" >"$dir.log" 2>&1 || {
    tail -n 40 "$dir.log" >&2
    die "docker build of $tag failed (log above)"
  }
  new="$(docker image inspect -f '{{.Id}}' "$tag")"
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
}

# The Debian mirror the host's apt already uses, read from its sources
# (deb822 .sources files and one-line .list files).
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uris != "" && suites ~ ("(^| )" suite "( |$)")) { split(uris, u, " "); print u[1]; found = 1; exit } uris = ""; suites = "" }
      /^[ \t]*$/ { flush(); next }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }
    ' "$f"
  done
}

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(host_mirror | grep -E '^https?://' | head -n1 || true)"
fi

# ---------------------------------------------------------------------------
# 1. Root filesystem: pacom/base and the packages of pacom/libtorrent
# ---------------------------------------------------------------------------
need_rootfs=0
if [ "$rebuild" = 1 ] || ! image_exists "$BASE_IMAGE"; then
  need_rootfs=1
elif ! image_exists "$LT_IMAGE" && ! compgen -G "$debs/*.deb" >/dev/null; then
  need_rootfs=1
fi

if [ "$need_rootfs" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || die "building $BASE_IMAGE needs root (debootstrap, chroot); run as root"
  [ -n "$mirror" ] || die "no Debian $SUITE mirror in the host's apt sources; set DEBIAN_MIRROR"
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
      || die "could not install debootstrap"
  fi

  work="$(mktemp -d "${TMPDIR:-/var/tmp}/pacom-rootfs.XXXXXX")"
  cleanup() {
    # Never leave a mount behind inside the root filesystem before deleting it.
    umount "$work/rootfs/proc" 2>/dev/null || true
    rm -rf --one-file-system "$work"
  }
  trap cleanup EXIT
  rootfs="$work/rootfs"

  say "debootstrap --variant=minbase $SUITE from $mirror (a few minutes)"
  t0=$SECONDS
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  }
  say "debootstrap done in $((SECONDS - t0)) s"

  # Packages for pacom/libtorrent: resolved and downloaded by the chroot's own apt
  # (the host's network), installed later offline with dpkg inside the image build.
  say "downloading ${LT_PACKAGES[*]} and dependencies into $debs"
  mkdir -p "$rootfs/var/cache/pacom-debs/partial"
  chroot "$rootfs" apt-get update -qq || die "apt-get update in the chroot failed"
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --download-only -o Dir::Cache::archives=/var/cache/pacom-debs "${LT_PACKAGES[@]}" >/dev/null \
    || die "could not download ${LT_PACKAGES[*]} in the chroot"
  rm -rf "$debs"
  mkdir -p "$debs"
  mv "$rootfs"/var/cache/pacom-debs/*.deb "$debs"/
  rm -rf "$rootfs/var/cache/pacom-debs"
  say "$(find "$debs" -name '*.deb' | wc -l) packages downloaded"

  # Keep the image small and free of the host's traces.
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
  : >"$rootfs/etc/hostname"

  if [ "$rebuild" = 1 ] || ! image_exists "$BASE_IMAGE"; then
    say "importing $BASE_IMAGE"
    t0=$SECONDS
    tar --numeric-owner --xattrs -C "$rootfs" -c . \
      | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase $SUITE + $BASE_PACKAGES" \
        - "$BASE_IMAGE" >/dev/null \
      || die "docker import of $BASE_IMAGE failed"
    say "$BASE_IMAGE imported in $((SECONDS - t0)) s"
  fi
  cleanup
  trap - EXIT
else
  say "$BASE_IMAGE exists (use --rebuild to rebuild it)"
fi

# ---------------------------------------------------------------------------
# 2. pacom/libtorrent
# ---------------------------------------------------------------------------
ctx="$(mktemp -d "${TMPDIR:-/var/tmp}/pacom-ctx.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT

if compgen -G "$debs/*.deb" >/dev/null; then
  say "building $LT_IMAGE (offline dpkg of $(find "$debs" -name '*.deb' | wc -l) packages)"
  mkdir -p "$ctx/lt"
  cp "$here/libtorrent/Dockerfile" "$here/libtorrent/popular.py" "$ctx/lt/"
  cp -r "$debs" "$ctx/lt/debs"
  t0=$SECONDS
  build_image "$LT_IMAGE" "$ctx/lt"
  say "$LT_IMAGE built in $((SECONDS - t0)) s"
elif image_exists "$LT_IMAGE"; then
  say "$LT_IMAGE exists and no cached packages to rebuild it from: kept"
else
  die "no cached packages for $LT_IMAGE; run with --rebuild"
fi
docker run --rm --network none "$LT_IMAGE" --self-test >/dev/null \
  || die "$LT_IMAGE does not work (popular.py --self-test failed)"

# ---------------------------------------------------------------------------
# 3. pacom/node
# ---------------------------------------------------------------------------
bin="${PACOM_BIN:-}"
if [ -z "$bin" ]; then
  say "cargo build --release -p pacom-cli"
  (cd "$repo" && cargo build --release -p pacom-cli) || die "cargo build of pacom-cli failed"
  target="${CARGO_TARGET_DIR:-$repo/target}"
  bin="$target/release/pacom"
fi
[ -x "$bin" ] || die "no executable pacom binary at $bin"
say "building $NODE_IMAGE with $bin"
mkdir -p "$ctx/node"
cp "$here/node/Dockerfile" "$here/node/entrypoint.sh" "$ctx/node/"
cp "$bin" "$ctx/node/pacom"
# A debug build carries hundreds of MB of debug info the image does not need.
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug "$ctx/node/pacom" || die "strip of $bin failed"
fi
t0=$SECONDS
build_image "$NODE_IMAGE" "$ctx/node"
say "$NODE_IMAGE built in $((SECONDS - t0)) s"
version="$(docker run --rm --network none "$NODE_IMAGE" --version)" \
  || die "$NODE_IMAGE does not run pacom --version"
say "$NODE_IMAGE runs: $version"

say "images ready:"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^pacom/' | sed 's/^/  /' || true
