#!/usr/bin/env bash
# The Debian packages finlib needs from the system, checked (and installed when possible)
# in one place: the Makefile (`make setup`, `make test`) and .ci/run both call this script.
#
#   tools/system-deps.sh [GROUP ...]     GROUP: venv | test | make | all (default: all)
#
#   venv  python3-venv   `python3 -m venv` needs ensurepip (creating .venv)
#   test  postgresql     initdb/pg_ctl for the throwaway test server (not needed when
#                        FINLIB_TEST_PG_URL names a server)
#         chromium       browser tests (FINLIB_CHROMIUM overrides the binary)
#         util-linux     runuser: the test server runs as `postgres` when the tests run as root
#   make  make           .ci/run calls `make test`
#
# Everything present: exits 0 and prints nothing. Something missing: installs it with
# apt-get when it can (running as root, or `sudo -n` works), else prints ONE line naming
# the packages to install and exits 1. FINLIB_SYSTEM_DEPS_INSTALL=no never installs (only
# checks); FINLIB_SYSTEM_DEPS_INSTALL=auto (the default) installs when it can.
set -u

PYTHON=${PYTHON:-python3}
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(all)
for g in "${groups[@]}"; do
    case "$g" in
        venv|test|make|all) ;;
        *) echo "finlib: system-deps.sh: unknown group '$g' (venv, test, make, all)" >&2; exit 2 ;;
    esac
done

has() { command -v "$1" >/dev/null 2>&1; }

has_initdb() {
    local f
    for f in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$f" ] && return 0
    done
    has initdb
}

has_chromium() {
    if [ -n "${FINLIB_CHROMIUM:-}" ]; then [ -x "$FINLIB_CHROMIUM" ]; else has chromium; fi
}

pkgs=()
need() {  # add a package to pkgs once
    local p
    for p in "${pkgs[@]}"; do [ "$p" = "$1" ] && return; done
    pkgs+=("$1")
}

check() {  # fill pkgs with what the requested groups miss (pure bash: PATH may be bare)
    pkgs=()
    local g
    for g in "${groups[@]}"; do
        case "$g" in
            venv|all)  # a missing $PYTHON is the Makefile's message, not a package
                has "$PYTHON" && ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 && need python3-venv ;;&
            test|all)
                [ -n "${FINLIB_TEST_PG_URL:-}" ] || has_initdb || need postgresql
                has_chromium || need chromium
                has runuser || need util-linux ;;&
            make|all) has make || need make ;;
        esac
    done
}

check
[ ${#pkgs[@]} -eq 0 ] && exit 0
as_root=()       # how to run apt-get: directly (root) or through `sudo -n`
can_install=no
if [ "${FINLIB_SYSTEM_DEPS_INSTALL:-auto}" = auto ] && has apt-get; then
    if [ "$EUID" = 0 ]; then
        can_install=yes
    elif has sudo && sudo -n true >/dev/null 2>&1; then
        can_install=yes
        as_root=(sudo -n)
    fi
fi

if [ "$can_install" = no ]; then
    echo "finlib: missing system packages: ${pkgs[*]}; install them first (Debian: sudo apt-get install -y ${pkgs[*]}), or run this as root or with passwordless sudo" >&2
    exit 1
fi

log="${TMPDIR:-/tmp}/finlib-system-deps.log"
echo "finlib: installing system packages with apt-get: ${pkgs[*]} (log: $log)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq \
        && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
    echo "finlib: apt-get could not install ${pkgs[*]} (see $log); install them and try again" >&2
    exit 1
fi
check
if [ ${#pkgs[@]} -gt 0 ]; then
    echo "finlib: still missing after apt-get install: ${pkgs[*]} (see $log)" >&2
    exit 1
fi
