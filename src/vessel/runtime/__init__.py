"""vessel-runtime: an OCI runtime (create/start/state/kill/delete) in Python.

Pipeline: bundle (config.json + rootfs) -> `oci.spec.Spec` (pure decode and
validation) -> `create` in the runtime process (state dir, cgroups, fork) ->
`init` in the container's namespaces (mounts, pivot_root, devices, process
set-up) waiting on exec.fifo -> `start` opens the fifo -> execve of the
user's program.  See docs/architecture.md.
"""
