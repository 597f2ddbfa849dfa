"""Behavioural checks: suites of cases with assertions, run against a version.

``suite``, ``static``, ``assertions`` are pure; ``providers`` talks to models through the
official SDKs (imported lazily); ``runner`` runs a suite concurrently.
"""
