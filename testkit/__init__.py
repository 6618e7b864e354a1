"""Test kit shared by tests/ and bench/: real servers on loopback and their clients."""
