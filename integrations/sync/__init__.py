"""Sync services. ``start_sync`` (in ``integrations.sync.start``) is the only way a sync starts."""
