"""The vessel engine: images + options -> OCI bundles -> containers, on one machine, without a daemon."""
