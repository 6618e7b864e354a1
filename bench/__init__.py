"""Hearth's benchmarks: the relay against Janus and P2P, memory, signaling load, and what a
person feels in Chromium. Each writes its section of docs/benchmarks.md."""
