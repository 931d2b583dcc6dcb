"""Thin wrappers over the Linux system calls the runtime needs (the shell)."""
