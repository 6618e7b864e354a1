"""The records objects a Hearth process builds once (see server/composition.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rooms.stores import Aead, Store
from server.records.attendance import AttendanceBook, AttendanceSink
from server.records.consent import ConsentGate, ConsentLedger
from server.records.people import NoProgram, Resolver
from server.records.sealed import Sealer


class Records:
    def __init__(self, store: Store, data_key: Aead, *, resolver: Resolver | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        sealer = Sealer(data_key)
        self.attendance = AttendanceBook(store, sealer, resolver or NoProgram())
        self.attendance_sink = AttendanceSink(self.attendance, clock)
        self.consent = ConsentLedger(store, sealer, resolver or NoProgram())
        self.gate = ConsentGate(self.consent)

    def use_resolver(self, resolver: Resolver) -> None:
        """The program layer maps participants to household members from here on."""
        self.attendance.resolver = resolver
        self.consent.resolver = resolver
