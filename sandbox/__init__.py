"""Simulated Pipedrive and Maileon, run as real HTTP servers on loopback.

Nothing in this package imports the app: the simulators only know the public APIs.
"""
