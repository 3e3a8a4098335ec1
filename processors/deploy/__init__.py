"""Deploying the daemons to Kubernetes: the numbers the Helm chart renders, computed from the
topic catalog, the daemon registry and the runtime's timings (:mod:`.values`)."""
