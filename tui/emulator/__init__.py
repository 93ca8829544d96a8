"""A local Microsoft 365 emulator: identity and Graph v1.0 on loopback HTTPS (see issue 3)."""
