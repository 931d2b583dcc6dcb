"""What `image ls`, `image inspect` and `history` show, in docker's shapes (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from vessel.humanize import human_duration
from vessel.image.changes import parse_time
from vessel.image.reference import Reference, short_id
from vessel.image.store import Image
from vessel.oci._codec import encode
from vessel.oci.image import ContainerConfig

_DOCKER_CONFIG_DEFAULTS = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


@dataclass(frozen=True)
class ListRow:
    repository: str
    tag: str
    image_id: str
    created: float | None
    size: int


def repo_digests(image: Image) -> list[str]:
    seen: dict[str, None] = {}
    for tag in image.tags:
        seen.setdefault(f"{tag.familiar_name}@{image.manifest_digest}", None)
    return list(seen)


def docker_config(cfg: ContainerConfig | None) -> dict:
    """An image's container config as docker's ImageInspect.Config prints it (every field present)."""
    out = dict(_DOCKER_CONFIG_DEFAULTS)
    if cfg is not None:
        out.update(encode(cfg))
    return out


def inspect_image(image: Image, size: int, layer_dirs: list[str] | None = None) -> dict:
    """docker's ImageInspect for ``image`` (Id, RepoTags, RepoDigests, Created, Size, Config, RootFS...)."""
    config = image.config
    last = config.history[-1] if config.history else None
    out = {
        "Id": image.id,
        "RepoTags": [t.familiar for t in image.tags],
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": (last.comment or "") if last else "",
        "Created": config.created or "",
        "DockerVersion": "",
        "Author": config.author or "",
        "Config": docker_config(config.config),
        "Architecture": config.architecture,
        "Variant": config.variant or "",
        "Os": config.os,
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(layer_dirs or [])}},
        "RootFS": {"Type": config.rootfs.type, "Layers": list(config.rootfs.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "History": [encode(h) for h in config.history],
        "Descriptor": {"mediaType": image.descriptor.media_type, "digest": image.manifest_digest,
                       "size": image.manifest_size},
    }
    if not out["Variant"]:
        del out["Variant"]
    return out


def summary(image: Image, size: int) -> dict:
    """docker's ImageSummary (what `GET /images/json` and `image ls --format json` give)."""
    created = parse_time(image.config.created)
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": [t.familiar for t in image.tags],
        "RepoDigests": repo_digests(image),
        "Created": int(created) if created is not None else 0,
        "Size": size,
        "SharedSize": -1,
        "VirtualSize": size,
        "Labels": (image.config.config.labels if image.config.config else None) or {},
        "Containers": -1,
    }


def list_rows(images_and_sizes: list[tuple[Image, int]], only: Reference | None = None) -> list[ListRow]:
    """One row per tag (``<none>`` for dangling images), newest image first, like `docker images`.

    ``only`` (a repository, with or without tag) keeps the rows of that name, as `docker images NAME` does.
    """
    rows: list[ListRow] = []
    for image, size in images_and_sizes:
        created = parse_time(image.config.created)
        if not image.tags and only is None:
            rows.append(ListRow("<none>", "<none>", image.id, created, size))
        for tag in image.tags:
            if only is None or (tag.name == only.name and only.tag in (None, tag.tag)):
                rows.append(ListRow(tag.familiar_name, tag.tag or "<none>", image.id, created, size))
    rows.sort(key=lambda r: (-(r.created or 0), r.repository, r.tag))
    return rows


def history_rows(image: Image, layer_sizes: list[int]) -> list[dict]:
    """docker's image history entries, newest first; layer sizes in rootfs order."""
    sizes = list(layer_sizes)
    entries = []
    for h in image.config.history:
        size = 0 if h.empty_layer else (sizes.pop(0) if sizes else 0)
        entries.append({"Id": "<missing>", "Created": int(parse_time(h.created) or 0), "CreatedBy": h.created_by or "",
                        "Tags": None, "Size": size, "Comment": h.comment or ""})
    entries.reverse()
    if entries:
        entries[0]["Id"] = image.id
        entries[0]["Tags"] = [t.familiar for t in image.tags] or None
    else:
        entries.append({"Id": image.id, "Created": int(parse_time(image.config.created) or 0), "CreatedBy": "",
                        "Tags": [t.familiar for t in image.tags] or None, "Size": sum(layer_sizes), "Comment": ""})
    return entries


def human_size(size: float) -> str:
    """docker's sizes: decimal units, three significant digits (4.26MB, 1.23kB, 0B)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def created_ago(created: float | None, now: float) -> str:
    return "N/A" if created is None else human_duration(max(0.0, now - created)) + " ago"


def short(image_id: str) -> str:
    return short_id(image_id)
