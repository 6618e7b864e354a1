"""TLS tooling: dev CA and certificate checks."""
