"""crowdgate's Python client: a requests-based SDK over crowdgate's REST API.

It imports nothing from the service, so scripts and notebooks can install it alone.
"""
