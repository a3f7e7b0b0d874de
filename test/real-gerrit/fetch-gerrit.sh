#!/usr/bin/env bash
# Fetch what it takes to run a real Gerrit 3.10.2 daemon from a plain Java classpath, and print
# that classpath on stdout (one line, ':'-separated). Idempotent: with everything in place it only
# checks files and checksums (well under a second) and runs no mvn at all.
#
# Why a classpath and not gerrit.war: this machine's Maven Central mirror does not serve
# com.google.gerrit:gerrit-war (404 for every version). Maven Central does serve two fat jars that,
# together, hold the whole server: gerrit-plugin-api (server, sshd, httpd, jgit, lucene, guice,
# apache sshd, ...) and gerrit-acceptance-framework (pgm.Init, pgm.Daemon, jetty, h2, ...).
# The only thing they leave out is Bouncy Castle (Gerrit hashes HTTP passwords with it), which is
# fetched here at the version and checksums Gerrit 3.10 pins itself.
#
# Usage:
#   test/real-gerrit/fetch-gerrit.sh            # fetch if needed, print the classpath
#   test/real-gerrit/fetch-gerrit.sh --check    # fetch nothing; exit 3 if anything is missing
#
# Environment:
#   ROLLGATE_M2_REPO     local Maven repository (default: ~/.m2/repository, mvn's default)
#   ROLLGATE_CACHE_DIR   where the classpath file and the generated Version resource go
#                        (default: ~/.cache/rollgate)
#
# Everything comes through `mvn dependency:get` from Maven Central, nothing else is downloaded, and
# nothing binary is kept in the repository.
set -euo pipefail

GERRIT_VERSION=3.10.2
BC_VERSION=1.72

# groupId:artifactId:version sha1 (the sha1s are Maven Central's; the Bouncy Castle ones are also
# the ones Gerrit 3.10 pins in tools/deps.bzl)
ARTIFACTS=(
  "com.google.gerrit:gerrit-plugin-api:${GERRIT_VERSION} 577576dd19985ca291df8f4a32a1eb3f73e1fb6a"
  "com.google.gerrit:gerrit-acceptance-framework:${GERRIT_VERSION} d9a362c0c5793503055a109f9af7ff4db50c39a8"
  "org.bouncycastle:bcprov-jdk18on:${BC_VERSION} d8dc62c28a3497d29c93fee3e71c00b27dff41b4"
  "org.bouncycastle:bcpg-jdk18on:${BC_VERSION} 1a36a1740d07869161f6f0d01fae8d72dd1d8320"
  "org.bouncycastle:bcpkix-jdk18on:${BC_VERSION} bb3fdb5162ccd5085e8d7e57fada4d8eaa571f5a"
  "org.bouncycastle:bcutil-jdk18on:${BC_VERSION} 41f19a69ada3b06fa48781120d8bebe1ba955c77"
)

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

repo="${ROLLGATE_M2_REPO:-$HOME/.m2/repository}"
cache="${ROLLGATE_CACHE_DIR:-$HOME/.cache/rollgate}"

jar_path() { # g:a:v -> path of the jar in the local repository
  local g a v
  IFS=: read -r g a v <<<"$1"
  printf '%s/%s/%s/%s/%s-%s.jar' "$repo" "${g//.//}" "$a" "$v" "$a" "$v"
}

classpath=()
missing=0
for entry in "${ARTIFACTS[@]}"; do
  coord="${entry% *}"
  sha1="${entry#* }"
  jar="$(jar_path "$coord")"
  if [[ ! -s "$jar" ]]; then
    if $check_only; then
      echo "missing: $coord ($jar)" >&2
      missing=1
      continue
    fi
    echo "fetching $coord with mvn dependency:get ..." >&2
    if ! command -v mvn >/dev/null 2>&1; then
      echo "fetch-gerrit.sh: mvn is not installed (apt-get install maven)" >&2
      exit 1
    fi
    # mvn's own output goes to stderr so that stdout stays the classpath.
    mvn -B -q -Dstyle.color=never dependency:get -Dartifact="$coord" -Dtransitive=false ${ROLLGATE_M2_REPO:+-Dmaven.repo.local="$repo"} >&2
    if [[ ! -s "$jar" ]]; then
      echo "fetch-gerrit.sh: mvn ran but $jar is still missing" >&2
      exit 1
    fi
  fi
  actual="$(sha1sum "$jar" | cut -c1-40)"
  if [[ "$actual" != "$sha1" ]]; then
    echo "fetch-gerrit.sh: checksum mismatch for $coord: $actual != $sha1 ($jar)" >&2
    exit 1
  fi
  classpath+=("$jar")
done
if [[ $missing -ne 0 ]]; then
  exit 3
fi

# Gerrit reads its version from the classpath resource com/google/gerrit/common/Version, which
# only the war carries; without it the server says "(dev)". Generate it (a one-line text file).
resources="$cache/gerrit-${GERRIT_VERSION}-resources"
version_file="$resources/com/google/gerrit/common/Version"
if [[ "$(cat "$version_file" 2>/dev/null)" != "v${GERRIT_VERSION}" ]]; then
  mkdir -p "$(dirname "$version_file")"
  printf 'v%s\n' "$GERRIT_VERSION" >"$version_file"
fi
classpath+=("$resources")

joined="$(IFS=:; printf '%s' "${classpath[*]}")"
mkdir -p "$cache"
printf '%s\n' "$joined" >"$cache/gerrit-${GERRIT_VERSION}.classpath"
printf '%s\n' "$joined"
