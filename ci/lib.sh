# shellcheck shell=bash
# Shared by the benchmark scripts (ci/bench.sh, ci/profile-echo.sh); sourced.

# apt_install PKG...: installs Debian packages, with sudo unless root, and
# refreshes the package lists once if the first try fails.
apt_install() {
  (($#)) || return 0
  echo "== installing $*" >&2
  local sudo=
  ((EUID == 0)) || sudo=sudo
  $sudo apt-get install -y "$@" >/dev/null ||
    { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}

# jget KEY LINE: a number field of a flat JSON line.
jget() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }
