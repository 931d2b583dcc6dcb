"""The guest side: vessel's /init (a busybox shell script) and the per-VM settings it reads.

Boot inside the guest, in order:

1. the kernel unpacks the initramfs (busybox, a few virtio modules, this /init) and
   the per-VM segment holding ``/vessel/config.sh``;
2. /init loads the modules named in the config, finds the two virtio-serial ports
   (``vessel.status``: guest -> host, a file on the host; ``vessel.ctl``: host -> guest,
   a FIFO pair on the host), mounts the root disk ``/dev/vda`` (ext4) at /newroot,
   mounts volumes (virtiofs), sets hostname and network;
3. it starts the process chrooted into /newroot as the user, in the workdir, with
   exactly the configured environment (busybox ``nsenter -r -w -S -G`` then ``env -i``),
   stdio on ``/dev/hvc0`` (the log file on the host, or the terminal with ``tty``);
4. it writes ``started`` to the status port, relays ``kill SIG`` lines from the
   control port to the process, waits for it, writes ``exit CODE`` and reboots,
   which ends QEMU (``-no-reboot``, kernel ``reboot=t``).

A setup failure writes ``fail MESSAGE`` instead, so the host can say what went wrong.
"""

from __future__ import annotations

import shlex

from vessel.vm.spec import VmConfig

GUEST_BUSYBOX = "/dev/.vessel/busybox"  # where the process's chroot sees busybox (devtmpfs, not the image)

INIT_SCRIPT = r"""#!/bin/sh
# vessel guest init: PID 1 inside the initramfs.  Settings come from /vessel/config.sh.
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
. /vessel/config.sh
status=
ctl=

say() { [ -n "$status" ] && echo "$*" > "$status"; }
fail() {
    echo "vessel-init: $*" > /dev/console
    say "fail $*"
    sync
    reboot -f
}
wait_for() {  # wait_for TEST ARG WHAT: poll up to 10 s for [ TEST ARG ]
    n=0
    while ! [ "$1" "$2" ]; do
        n=$((n + 1))
        [ $n -gt 1000 ] && fail "timed out waiting for $3 ($2)"
        usleep 10000
    done
}
find_ports() {
    for p in /sys/class/virtio-ports/*; do
        name=
        [ -r "$p/name" ] && read -r name < "$p/name"
        case "$name" in
            vessel.status) status=/dev/${p##*/} ;;
            vessel.ctl) ctl=/dev/${p##*/} ;;
        esac
    done
    [ -n "$status" ] && [ -n "$ctl" ]
}
lookup_user() {  # sets uid, gid from "user[:group]" using the image's /etc/passwd and /etc/group
    u=${1%%:*}
    g=
    case $1 in *:*) g=${1#*:} ;; esac
    case $u in
        *[!0-9]*) line=$(awk -F: -v n="$u" '$1 == n {print $3 " " $4; exit}' /newroot/etc/passwd 2>/dev/null)
                  [ -n "$line" ] || fail "user $u not found in the image's /etc/passwd"
                  uid=${line% *}; gid=${line#* } ;;
        *) uid=$u
           [ -n "$g" ] || gid=$(awk -F: -v n="$u" '$3 == n {print $4; exit}' /newroot/etc/passwd 2>/dev/null)
           [ -n "$gid" ] || gid=$u ;;
    esac
    case $g in
        '') ;;
        *[!0-9]*) gid=$(awk -F: -v n="$g" '$1 == n {print $3; exit}' /newroot/etc/group 2>/dev/null)
                  [ -n "$gid" ] || fail "group $g not found in the image's /etc/group" ;;
        *) gid=$g ;;
    esac
}
volume() {  # volume TAG TARGET ro|rw
    mkdir -p "/newroot$2" || fail "cannot create volume mount point $2"
    opts=
    [ "$3" = ro ] && opts="-o ro"
    mount -t virtiofs $opts "$1" "/newroot$2" || fail "cannot mount volume $1 at $2"
}

for m in $VESSEL_MODULES; do
    insmod "/lib/modules/$m.ko" || fail "cannot load module $m"
done
n=0
until find_ports; do
    n=$((n + 1))
    [ $n -gt 1000 ] && fail "virtio-serial ports did not appear"
    usleep 10000
done
wait_for -b /dev/vda "the root disk"
mkdir -p /newroot
mount -t ext4 -o noatime /dev/vda /newroot || fail "cannot mount the root disk /dev/vda"
mkdir -p /newroot/dev /newroot/proc /newroot/sys
mount -t devtmpfs dev /newroot/dev
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mkdir -p /newroot/dev/pts /newroot/dev/shm /dev/.vessel
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o nosuid,nodev shm /newroot/dev/shm
: > /dev/.vessel/busybox
mount --bind /bin/busybox /newroot/dev/.vessel/busybox
vessel_volumes

[ -n "$VESSEL_HOSTNAME" ] && hostname "$VESSEL_HOSTNAME"
ip link set lo up
if [ "$VESSEL_NET" != none ]; then
    wait_for -e /sys/class/net/eth0 "the network interface eth0"
    ip link set eth0 up
    ip addr add "$VESSEL_ADDRESS" dev eth0 || fail "cannot set address $VESSEL_ADDRESS"
    ip route add default via "$VESSEL_GATEWAY" || fail "cannot set gateway $VESSEL_GATEWAY"
    [ -d /newroot/etc ] && echo "nameserver $VESSEL_DNS" > /newroot/etc/resolv.conf
fi
lookup_user "$VESSEL_USER"
mkdir -p "/newroot$VESSEL_CWD"

enter() { vessel_command "$@" nsenter -F -r/newroot "-w/newroot$VESSEL_CWD" -S "$uid" -G "$gid" -- /dev/.vessel/busybox env -i; }
if [ "$VESSEL_TTY" = 1 ]; then
    (enter setsid -c) < /dev/hvc0 > /dev/hvc0 2>&1 &
else
    (enter) < /dev/null > /dev/hvc0 2>&1 &
fi
pid=$!
say "started $pid"
(
    while :; do
        while read -r verb arg; do
            case $verb in kill) kill -s "$arg" "$pid" 2>/dev/null ;; esac
        done < "$ctl"
        sleep 1
    done
) &
wait $pid
code=$?
say "exit $code"
sync
reboot -f
"""


def _q(value: str) -> str:
    return shlex.quote(value)


def render_config(config: VmConfig, modules: list[str], volume_tags: list[str]) -> str:
    """The /vessel/config.sh the init script sources: plain shell assignments and two functions.

    Every value is quoted with ``shlex.quote``, so arguments and environment reach the
    process byte for byte whatever they contain.
    """
    p = config.process
    net = config.network
    lines = [
        "# generated by vessel for VM " + _q(config.id),
        f"VESSEL_MODULES={_q(' '.join(modules))}",
        f"VESSEL_HOSTNAME={_q(p.hostname)}",
        f"VESSEL_CWD={_q(p.cwd)}",
        f"VESSEL_USER={_q(p.user)}",
        f"VESSEL_TTY={1 if p.tty else 0}",
        f"VESSEL_NET={_q(net.mode)}",
        f"VESSEL_ADDRESS={_q(net.address)}",
        f"VESSEL_GATEWAY={_q(net.gateway)}",
        f"VESSEL_DNS={_q(net.dns)}",
        "vessel_volumes() {",
        "    :",
    ]
    for tag, vol in zip(volume_tags, config.volumes):
        lines.append(f"    volume {_q(tag)} {_q(vol.target)} {'ro' if vol.readonly else 'rw'}")
    lines.append("}")
    words = [_q(e) for e in p.env] + [_q(a) for a in p.args]
    lines.append('vessel_command() { exec "$@" ' + " ".join(words) + "; }")
    return "\n".join(lines) + "\n"
