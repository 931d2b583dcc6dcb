#!/usr/bin/env bash
# The main job until the engine lands: a busybox container through vessel-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=.cache/demo
if [[ ! -x $demo/rootfs/bin/sh ]]; then
    mkdir -p "$demo/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
    cp /bin/busybox "$demo/rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$demo/rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$demo/rootfs/etc/passwd"
fi
rm -f "$demo/config.json"
.venv/bin/vessel-runtime spec --bundle "$demo"
.venv/bin/python - "$demo/config.json" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["process"]["terminal"] = False
cfg["process"]["args"] = ["sh", "-c", "echo \"hello from a vessel container: pid $$ on $(hostname), kernel $(uname -r)\"; ls /"]
cfg["hostname"] = "vessel-demo"
json.dump(cfg, open(path, "w"), indent=2)
PY
echo "+ vessel-runtime run --bundle $demo demo"
.venv/bin/vessel-runtime --root /run/vessel-runtime run --bundle "$demo" "demo-$$"
