"""The image a stage builds, step by step, as a frozen value (pure).

``RootState`` holds the layers, diff IDs, history and config so far plus the
cache key of the last step.  ``advance`` gives the state after one step;
``image_config`` the OCI image config the store will name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vessel.build.cache import LayerRef
from vessel.build.config import ImageConfig as BuildConfig
from vessel.build.config import apply_step
from vessel.build.steps import Step
from vessel.image.layers import chain_ids
from vessel.oci.image import ContainerConfig, Descriptor, History, ImageConfig, RootFS

HISTORY_COMMENT = "buildkit.dockerfile.v0"


@dataclass(frozen=True, slots=True)
class RootState:
    key: str
    config: BuildConfig
    layers: tuple[Descriptor, ...] = ()
    diff_ids: tuple[str, ...] = ()
    history: tuple[History, ...] = ()
    created: str | None = None
    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None

    @property
    def chain(self) -> str | None:
        """The chain ID of the layers so far (None: no layer)."""
        return chain_ids(list(self.diff_ids))[-1] if self.diff_ids else None

    @property
    def identity(self) -> str:
        """What COPY --from this state is keyed by: its content (chain ID)."""
        return self.chain or "empty"

    def advance(self, step: Step, key: str, layer: LayerRef | None, created: str) -> "RootState":
        entry = History(created=created, created_by=step.created_by(), comment=HISTORY_COMMENT,
                        empty_layer=None if layer is not None else True)
        layers, diff_ids = self.layers, self.diff_ids
        if layer is not None:
            layers = (*layers, Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size))
            diff_ids = (*diff_ids, layer.diff_id)
        return replace(self, key=key, config=apply_step(self.config, step), layers=layers, diff_ids=diff_ids,
                       history=(*self.history, entry), created=created)

    def image_config(self, labels: dict[str, str] | None = None) -> ImageConfig:
        """The OCI image config of this state; ``labels`` (``--label``) are merged into the config's."""
        body = self.config.to_dict()
        if labels:
            body["Labels"] = {**body.get("Labels", {}), **labels}
        return ImageConfig(architecture=self.architecture, os=self.os, variant=self.variant,
                           rootfs=RootFS("layers", list(self.diff_ids)), created=self.created,
                           author=self.config.author or None, config=ContainerConfig.from_dict(body),
                           history=list(self.history))
