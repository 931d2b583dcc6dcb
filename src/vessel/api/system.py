"""System endpoints: _ping, version, info, system/df, auth, events."""

from __future__ import annotations

import functools
import os
import platform
import socket
import time

from vessel import __version__
from vessel.api import API_VERSION, MIN_API_VERSION, events as E, filters as F
from vessel.api.messages import Request, Response, Stream, json_lines, json_response

START = time.time()


def ping(req: Request) -> Response:
    headers = [("Builder-Version", "1"), ("Swarm", "inactive"), ("Cache-Control", "no-cache, no-store, must-revalidate"),
               ("Pragma", "no-cache")]
    body = b"" if req.method == "HEAD" else b"OK"
    return Response(200, body, "text/plain; charset=utf-8", headers)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version(req: Request) -> Response:
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
               "GoVersion": f"python{platform.python_version()}", "Os": "linux", "Arch": _arch(),
               "KernelVersion": platform.release(), "Experimental": "false", "BuildTime": ""}
    components = [{"Name": "Engine", "Version": __version__, "Details": details}]
    conmon = _conmon_version()
    if conmon:
        components.append({"Name": "conmon", "Version": conmon, "Details": {"GitCommit": ""}})
    components.append({"Name": "vessel-runtime", "Version": __version__, "Details": {"GitCommit": ""}})
    return json_response({"Platform": {"Name": "vessel"}, "Components": components, "Version": __version__,
                          "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
                          "GoVersion": details["GoVersion"], "Os": "linux", "Arch": _arch(),
                          "KernelVersion": platform.release(), "BuildTime": ""})


@functools.lru_cache(maxsize=1)
def _conmon_version() -> str:
    import subprocess

    try:
        out = subprocess.run(["conmon", "--version"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return ""
    return out[2] if len(out) > 2 else ""


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def info(req: Request) -> Response:
    from vessel.engine import monitor
    from vessel.runtime import cgroups

    engine, daemon = req.ctx.engine, req.ctx.daemon
    recs = engine.list(all_containers=True)
    v2 = cgroups.detect().mode == "v2"
    runtime = monitor.runtime_path(None)
    data = {
        "ID": daemon.id, "Containers": len(recs), "ContainersRunning": sum(r.status == "running" for r in recs),
        "ContainersPaused": sum(r.status == "paused" for r in recs),
        "ContainersStopped": sum(r.status not in ("running", "paused") for r in recs),
        "Images": len(engine.store.images()), "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file", "k8s-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True,
        "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": _forwarding(), "BridgeNfIptables": False,
        "BridgeNfIp6tables": False, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": not v2, "NGoroutines": _threads(), "SystemTime": _now_rfc3339(),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if v2 else "1",
        "NEventsListener": len(daemon.events.subscribers), "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames":
                           None, "InsecureRegistryCIDRs": [], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "GenericResources": None, "DockerRootDir": str(engine.root), "HttpProxy": "", "HttpsProxy": "",
        "NoProxy": "", "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": __version__, "Runtimes": {"vessel-runtime": {"path": runtime}},
        "DefaultRuntime": "vessel-runtime", "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                                                     "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "tini",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if v2 else []),
        "DefaultAddressPools": [], "Warnings": [], "CDISpecDirs": [],
    }
    return json_response(data)


def _forwarding() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _threads() -> int:
    import threading

    return threading.active_count()


def _now_rfc3339() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def df(req: Request) -> Response:
    """GET /system/df (`type` may narrow it to container, image, volume, build-cache)."""
    from vessel.api import ctrinfo
    from vessel.engine.volumes import dir_size
    from vessel.image.inspect import summary

    engine = req.ctx.engine
    kinds = set(req.args("type")) or {"container", "image", "volume", "build-cache"}
    out: dict = {"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []}
    with req.ctx.daemon.df_lock:
        recs = engine.list(all_containers=True)
        if "image" in kinds:
            users: dict[str, int] = {}
            for rec in recs:
                users[rec.image_id] = users.get(rec.image_id, 0) + 1
            for image in engine.store.images():
                entry = summary(image, engine.store.image_size(image))
                entry["Containers"], entry["SharedSize"] = users.get(image.id, 0), 0
                out["Images"].append(entry)
                out["LayersSize"] += entry["Size"]
        if "container" in kinds:
            state = ctrinfo._network_state(engine)
            for rec in recs:
                from vessel.api.views import container_summary

                entry = container_summary(rec, command=ctrinfo.command_line(engine, rec),
                                          ports=ctrinfo.ports_of(rec, state), networks=ctrinfo.networks_of(rec, state),
                                          mounts=ctrinfo.mounts_of(engine, rec),
                                          labels=dict(rec.options.get("labels") or {}))
                entry["SizeRw"], entry["SizeRootFs"] = ctrinfo._sizes(engine, rec)
                out["Containers"].append(entry)
        if "volume" in kinds:
            used: dict[str, int] = {}
            for rec in recs:
                for v in rec.options.get("volumes") or []:
                    if v.get("kind") in ("volume", "anonymous") and v.get("source"):
                        used[v["source"]] = used.get(v["source"], 0) + 1
            for vol in engine.volumes.db.volumes():
                doc = engine.volumes.inspect(vol["name"])
                doc["UsageData"] = {"Size": dir_size(engine.volumes.path(vol["name"])),
                                    "RefCount": used.get(vol["name"], 0)}
                out["Volumes"].append(doc)
    return json_response(out)


def auth(req: Request) -> Response:
    """POST /auth: check the credentials against the registry (docker login); nothing is stored here
    (the docker CLI keeps them and sends them with each pull and push in X-Registry-Auth)."""
    from vessel.api.body import Fields
    from vessel.image import registry
    from vessel.image.credentials import Credentials

    body = Fields(req.json_object(), "AuthConfig")
    user, password, server = body.str("username"), body.str("password"), body.str("serveraddress")
    registry.login(server or None, Credentials(user or "", password or ""), registry.Session())
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


def events(req: Request) -> Stream:
    now = time.time()
    flt = F.parse(req.arg("filters"))
    E.check_filters(flt)
    since, until = E.parse_time(req.arg("since"), now), E.parse_time(req.arg("until"), now)
    bus = req.ctx.events
    return Stream(json_lines(E.stream(bus, flt, since, until, req.ctx.client_gone)))


def plugins(req: Request) -> Response:
    """GET /plugins: vessel has no managed plugins (volume and network drivers are built in)."""
    return json_response([])


ROUTES = [
    ("GET", "/plugins", plugins),
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/system/df", df),
    ("POST", "/auth", auth),
    ("GET", "/events", events),
]
