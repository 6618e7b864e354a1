"""A fake microphone that speaks: Chromium's own fake microphone plays a beep, which
an Opus encoder codes as music (CELT), where it has no in-band FEC; a family's
microphones carry speech. ``speech_wav`` writes a spoken passage with espeak-ng
(scripts/system-deps.sh installs it) for ``--use-file-for-fake-audio-capture``,
which Chromium loops."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PASSAGE = (
    "We are going to take a few minutes to check in with each other. "
    "Tell me one thing that went well this week, and one thing that was hard. "
    "Take your time. There is no wrong answer, and everyone gets a turn to speak. "
)


def speech_wav(path: Path, repeats: int = 3) -> Path:
    """About 15 s of speech per repeat of ``PASSAGE``, as a WAV file at ``path``."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is missing: run scripts/system-deps.sh as root")
    subprocess.run([espeak, "-s", "150", "-w", str(path), PASSAGE * repeats],
                   check=True, capture_output=True, timeout=60)
    return path
