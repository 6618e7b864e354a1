"""The program around sessions: clinic staff, households, recurring series and their links.

``models`` and ``recurrence`` are pure; ``service`` runs them over the Store protocol
so that the same code serves the embedded SQLite and the Redis backends.
"""
