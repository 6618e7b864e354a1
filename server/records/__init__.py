"""Clinical records around sessions: attendance intervals and the consent ledger.

Both are built over the Store protocol (embedded SQLite or Redis), carry a schema
version on every stored record, and seal whatever identifies a person with
AES-GCM under the data key.
"""
