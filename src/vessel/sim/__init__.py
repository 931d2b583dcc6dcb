"""Simulators: the datacenter placement simulator and the scale-out advisor."""
