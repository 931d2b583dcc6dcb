"""Typed, frozen views of OCI runtime-spec and image-spec JSON (pure)."""
