import shlex
import subprocess
from pathlib import Path

import pytest

from vessel.vm.guest_init import INIT_SCRIPT, render_config
from vessel.vm.kernel import (MODULE_SIG_MARKER, bzimage_payload, load_order, modules_for, parse_modules_dep,
                               strip_module_signature)
from vessel.vm.qemu_args import Machine, VmPaths, kernel_cmdline, qemu_argv, virtiofsd_argv
from vessel.vm.spec import NetworkSpec, PortSpec, ProcessSpec, VmConfig, VolumeSpec

pytestmark = pytest.mark.unit

DEP = """kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/fuse/fuse.ko:
kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko
"""


def cfg(**kw):
    base = dict(id="vm1", name="vm1", process=ProcessSpec(("sh", "-c", "echo 'a b' \"$X\"; exit 7"),
                                                          env=("X=it's", "PATH=/bin")),
                base_image="/b.raw", mac="52:54:00:00:00:01")
    base.update(kw)
    return VmConfig(**base)


def test_modules_load_after_their_dependencies_once():
    deps = parse_modules_dep(DEP)
    order = load_order(["virtio_mmio", "virtio_blk", "virtiofs"], deps)
    assert order == ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk", "fuse", "virtiofs"]


def test_modules_for_features():
    assert "virtio_net" not in modules_for("microvm", network=False, volumes=False)
    assert modules_for("microvm", True, True)[0] == "virtio_mmio"
    assert "virtiofs" in modules_for("q35", True, True) and modules_for("q35", False, False)[0] == "virtio_pci"


def test_config_sh_reproduces_argv_and_env_exactly(tmp_path):
    """Source the generated config in a real shell and check what vessel_command would exec."""
    script = render_config(cfg(), ["virtio"], []) + 'vessel_command printf "[%s]\\n"\n'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[X=it's]", "[PATH=/bin]", "[sh]", "[-c]", "[echo 'a b' \"$X\"; exit 7]"]


def test_config_sh_declares_volumes_and_settings():
    text = render_config(cfg(volumes=(VolumeSpec("/h", "/da ta", True),),
                             process=ProcessSpec(("x",), cwd="/w", user="app", hostname="h1")), ["m1", "m2"], ["vol0"])
    assert "VESSEL_MODULES='m1 m2'" in text
    assert "volume vol0 '/da ta' ro" in text
    assert "VESSEL_CWD=/w" in text and "VESSEL_USER=app" in text and "VESSEL_HOSTNAME=h1" in text


def test_init_script_is_valid_shell():
    subprocess.run(["sh", "-n", "-c", INIT_SCRIPT], check=True)


def test_qemu_argv_trimmed_microvm_with_devices(tmp_path):
    paths = VmPaths(tmp_path / "vm1", Path("/run/x"))
    m = Machine("microvm", "tcg", "qemu64", ("tsc_early_khz=1000",))
    argv = qemu_argv(m, cfg(ports=(PortSpec(8080, 80),), volumes=(VolumeSpec("/h", "/d"),)), paths, Path("/k"))
    joined = " ".join(argv)
    assert argv[argv.index("-M") + 1].startswith("microvm,x-option-roms=off")
    assert "-nodefaults" in argv and "-no-reboot" in argv and "-daemonize" in argv
    assert "hostfwd=tcp:127.0.0.1:8080-:80" in joined
    assert "virtio-blk-device,drive=root" in joined
    assert "vhost-user-fs-device,chardev=fs0,tag=vol0" in joined
    assert "memory-backend-memfd" in joined and "share=on" in joined
    assert "mac=52:54:00:00:00:01" in joined
    assert "tsc_early_khz=1000" in argv[argv.index("-append") + 1]
    assert f"unix:/run/x/qmp.sock" in joined


def test_qemu_argv_variants(tmp_path):
    paths = VmPaths(tmp_path, Path("/r"))
    argv = qemu_argv(Machine("q35"), cfg(network=NetworkSpec(mode="none")), paths, Path("/k"),
                     daemonize=False, incoming=True, tty=True)
    joined = " ".join(argv)
    assert "-netdev" not in argv and "-daemonize" not in argv
    assert "-incoming defer" in joined and "stdio,id=out" in joined and "virtio-blk-pci" in joined
    tap = qemu_argv(Machine(), cfg(network=NetworkSpec(mode="tap", tap="vtap0")), paths, Path("/k"))
    assert "tap,id=net0,ifname=vtap0,script=no,downscript=no" in tap


def test_cmdline_has_no_duplicates_and_virtiofsd_argv():
    line = kernel_cmdline(Machine(clock_args=("tsc=reliable",))).split()
    assert len(line) == len(set(line)) and "tsc=reliable" in line and "reboot=t" in line
    assert virtiofsd_argv("/src", Path("/s.sock"), False)[1] == "--socket-path=/s.sock"


def test_bzimage_payload_rejects_non_kernels():
    with pytest.raises(ValueError):
        bzimage_payload(b"\0" * 4096)


def signed(body: bytes, sig: bytes) -> bytes:
    info = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + len(sig).to_bytes(4, "big")  # PKCS#7, then be32 sig_len
    return body + sig + info + MODULE_SIG_MARKER


def test_module_signature_is_stripped_and_unsigned_modules_kept():
    body = b"\x7fELF" + bytes(range(256)) * 4
    assert strip_module_signature(signed(body, b"S" * 567)) == body
    assert strip_module_signature(body) == body
    with pytest.raises(ValueError):
        strip_module_signature(signed(b"", b"S" * 10)[10:])  # claims more signature than there is


def test_cmdline_trims_per_accelerator_and_blacklists_initcalls():
    tcg = kernel_cmdline(Machine(accel="tcg")).split()
    kvm = kernel_cmdline(Machine(accel="kvm")).split()
    blacklist = [w for w in tcg if w.startswith("initcall_blacklist=")]
    assert len(blacklist) == 1 and "tracer_init_tracefs" in blacklist[0].split("=", 1)[1].split(",")
    assert "noreplace-smp" in tcg and "mitigations=off" not in tcg  # see ACCEL_CMDLINE: cheaper TCG boot
    assert "mitigations=off" in kvm and "noreplace-smp" not in kvm


def test_serial_device_has_only_the_ports_vessel_uses(tmp_path):
    argv = qemu_argv(Machine(), cfg(), VmPaths(tmp_path, Path("/r")), Path("/k"))
    assert "virtio-serial-device,max_ports=3" in argv
    assert sum(a.startswith(("virtconsole", "virtserialport")) for a in argv) == 3


def _init_function(name: str) -> str:
    start = INIT_SCRIPT.index(f"{name}() {{")
    return INIT_SCRIPT[start:INIT_SCRIPT.index("\n}\n", start) + 3]


@pytest.mark.parametrize("user,expected", [("0:0", "0 0"), ("1000", "1000 1001"), ("app", "1000 1001"),
                                           ("app:nogroup", "1000 65534"), ("7", "7 7"), ("0:5", "0 5")])
def test_init_resolves_users_like_the_image(tmp_path, user, expected):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\napp:x:1000:\n")
    script = (_init_function("lookup_user").replace("/newroot", str(tmp_path))
              + 'fail() { echo "FAIL $*"; exit 1; }\nlookup_user "$1"\necho "$uid $gid"\n')
    out = subprocess.run(["busybox", "sh", "-c", script, "sh", user], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_init_finds_ports_by_name_without_subprocesses(tmp_path):
    for port, name in (("vport0p0", None), ("vport0p1", "vessel.status"), ("vport0p2", "vessel.ctl")):
        (tmp_path / port).mkdir()
        if name:
            (tmp_path / port / "name").write_text(name + "\n")
    script = (_init_function("find_ports").replace("/sys/class/virtio-ports", str(tmp_path))
              + 'status=; ctl=\nfind_ports && echo "$status $ctl"\n')
    out = subprocess.run(["busybox", "sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "/dev/vport0p1 /dev/vport0p2"
    assert "$(cat" not in _init_function("find_ports")


def test_pit_goes_only_when_the_tsc_frequency_is_handed_over(tmp_path):
    def machine_option(machine):
        argv = qemu_argv(machine, cfg(), VmPaths(tmp_path, Path("/r")), Path("/k"))
        return argv[argv.index("-M") + 1]

    assert machine_option(Machine(clock_args=("tsc_early_khz=1", "tsc=reliable"), pit=False)).endswith(",pit=off")
    assert "pit=" not in machine_option(Machine())
