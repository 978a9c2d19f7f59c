"""The ``streamproc`` command."""
