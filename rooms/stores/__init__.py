"""Storage backends: one Protocol; embedded (SQLite), Redis, and in-memory (for tests).

The primitives are deliberately small (versioned values with compare-and-set,
append-only lists, sets, set-if-absent) so that both backends can be proven
equivalent by one contract-test suite, and every repository above them is
backend-agnostic.
"""

from rooms.stores.base import (
    Aead,
    Store,
    StoreError,
    StoreUnavailable,
    StoreWrapper,
    Versioned,
    rewrite_list,
)

__all__ = [
    "Aead", "Store", "StoreError", "StoreUnavailable", "StoreWrapper", "Versioned", "rewrite_list",
]
