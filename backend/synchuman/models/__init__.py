"""Networks of the SyncHuman method, each a small module with a config and a loader."""
