"""What every benchmark shares: processes on loopback ports and their health waits, workspaces,
the engine start serving already has, the stand-in engine, and the results writer."""
