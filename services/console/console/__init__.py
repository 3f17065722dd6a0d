"""工作台: the Chinese web console of the platform, a client of the public HTTP API only."""
