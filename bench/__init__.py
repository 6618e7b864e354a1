"""Relay benchmark harness (issue 7): the same aiortc clients against Janus, Hearth and P2P."""
