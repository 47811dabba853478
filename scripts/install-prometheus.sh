#!/usr/bin/env bash
# Install Debian's Prometheus (2.42) for the integration tests, idempotently.
#
# The tests start their own /usr/bin/prometheus on a free loopback port
# (uplift_operator.devenv.prometheus), so the packaged system service is not
# wanted: a policy-rc.d denies service starts during the install, and when this
# run installed the package, the service its postinst may still have started
# (and enabled) is stopped and disabled afterwards. A Prometheus installed before
# is left as it is, its service included: it may be the machine's own. Works
# without systemd (a container) and without a terminal (systemctl never asks
# for a password). Recommends (the node exporter on :9100) are not installed.
set -euo pipefail

PROMETHEUS=/usr/bin/prometheus

stop_system_service() {
    # Only after this run installed the package. The Debian package runs as user "prometheus"
    # from /usr/bin/prometheus with its pid file under /run; stop it through the init tooling
    # first, then by that pid.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl --no-ask-password stop prometheus.service >/dev/null 2>&1 || true
        $SUDO systemctl --no-ask-password disable prometheus.service >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/prometheus ]; then
        $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    for pidfile in /run/prometheus/prometheus.pid /run/prometheus.pid; do
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile" 2>/dev/null || true)
            if [ -n "$pid" ] && [ "$($SUDO readlink "/proc/$pid/exe" 2>/dev/null)" = "$PROMETHEUS" ]; then
                $SUDO kill "$pid" 2>/dev/null || true
            fi
        fi
    done
}

if [ -x "$PROMETHEUS" ]; then
    echo "prometheus already installed: $("$PROMETHEUS" --version 2>&1 | head -n1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive

# apt-get update only when the package lists do not know the package yet (an update costs
# seconds to minutes, and a warm machine's lists are usually good enough) ...
updated=0
if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update -qq
    updated=1
fi

# Deny service starts during the install (invoke-rc.d honours policy-rc.d); keep an existing policy.
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" = 1 ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

apt_install() { $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
# ... or when the install fails: lists that know the package can still be stale (a mirror that
# has dropped the version they name answers 404). One update, one retry.
if ! apt_install; then
    echo "install-prometheus: apt-get install failed; retrying once after apt-get update" >&2
    if [ "$updated" = 0 ]; then
        $SUDO apt-get update -qq
    fi
    apt_install
fi

stop_system_service
echo "installed: $("$PROMETHEUS" --version 2>&1 | head -n1)"
