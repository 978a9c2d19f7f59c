"""Serving metrics and health over HTTP: one endpoint per worker, fanned in by the supervisor."""
