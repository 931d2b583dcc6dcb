#!/usr/bin/env bash
# The main job: a busybox container through the vessel engine (daemonless, like podman).
# The busybox image is built from Debian's busybox-static on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
VESSEL=.venv/bin/vessel
echo "+ vessel run --rm busybox sh -c '...'"
$VESSEL run --rm --hostname vessel-demo --memory 64m --pids-limit 100 busybox \
    sh -c 'echo "hello from a vessel container: pid $$ on $(hostname), kernel $(uname -r)"; ls /'
echo "+ vessel-runtime run (the OCI runtime alone, on a runc-style bundle)"
demo=.cache/demo
if [[ ! -x $demo/rootfs/bin/sh ]]; then
    mkdir -p "$demo/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
    cp /bin/busybox "$demo/rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$demo/rootfs/bin/$applet"
    done
fi
rm -f "$demo/config.json"
.venv/bin/vessel-runtime spec --bundle "$demo"
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"echo", "hello from vessel-runtime"/' "$demo/config.json"
.venv/bin/vessel-runtime --root /run/vessel-runtime run --bundle "$demo" "demo-$$"
