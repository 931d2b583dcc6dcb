"""The store's index.json as a value: which manifests exist and which names point at them (pure).

Rules (kept by every function here):
- a tag (``org.opencontainers.image.ref.name`` = full normalised reference)
  appears on at most one entry;
- every image in the store has at least one entry: one per tag, or a single
  entry without the annotation when it has no tag (a *dangling* image,
  docker's ``<none>:<none>``);
- moving a tag to another image leaves the old image dangling, not deleted.
"""

from __future__ import annotations

from dataclasses import replace

from vessel.oci.image import ANNOTATION_REF_NAME, Descriptor, Index


def _untagged(desc: Descriptor) -> Descriptor:
    annotations = {k: v for k, v in desc.annotations.items() if k != ANNOTATION_REF_NAME}
    return replace(desc, annotations=annotations)


def _tagged(desc: Descriptor, ref: str) -> Descriptor:
    return replace(desc, annotations={**desc.annotations, ANNOTATION_REF_NAME: ref})


def manifest_digests(index: Index) -> list[str]:
    """Digests of the images in the index, in first-seen order."""
    seen: dict[str, None] = {}
    for desc in index.manifests:
        seen.setdefault(desc.digest, None)
    return list(seen)


def tags_of(index: Index, digest: str) -> list[str]:
    return [d.ref_name for d in index.manifests if d.digest == digest and d.ref_name]


def find_tag(index: Index, ref: str) -> Descriptor | None:
    for desc in index.manifests:
        if desc.ref_name == ref:
            return desc
    return None


def add_image(index: Index, desc: Descriptor) -> Index:
    """Record an image without naming it (no change if it is already there)."""
    if any(d.digest == desc.digest for d in index.manifests):
        return index
    return replace(index, manifests=[*index.manifests, _untagged(desc)])


def set_tag(index: Index, ref: str, desc: Descriptor) -> Index:
    """Point ``ref`` at ``desc``'s manifest; the image that held it may become dangling."""
    out: list[Descriptor] = []
    previous: str | None = None
    for d in index.manifests:
        if d.ref_name == ref:
            previous = d.digest
            continue
        if d.digest == desc.digest and not d.ref_name:
            continue  # the image gets a name: its unnamed entry goes
        out.append(d)
    out.append(_tagged(_untagged(desc), ref))
    if previous and previous != desc.digest and not any(d.digest == previous for d in out):
        old = next(d for d in index.manifests if d.digest == previous)
        out.append(_untagged(old))
    return replace(index, manifests=out)


def untag(index: Index, ref: str) -> Index:
    """Remove the name ``ref``; its image stays, dangling if that was its last name."""
    target = find_tag(index, ref)
    if target is None:
        return index
    out = [d for d in index.manifests if d.ref_name != ref]
    if not any(d.digest == target.digest for d in out):
        out.append(_untagged(target))
    return replace(index, manifests=out)


def remove_image(index: Index, digest: str) -> Index:
    """Forget the image (every entry of the manifest)."""
    return replace(index, manifests=[d for d in index.manifests if d.digest != digest])
