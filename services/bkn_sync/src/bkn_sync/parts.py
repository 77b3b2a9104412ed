"""What one bkn-sync process holds for its whole life beside the shared runtime, built when its
subscribers are registered and reached, typed, as ``runtime.parts``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kinerja_shared.service import Runtime

from .config import Settings
from .pause import Pause
from .pipeline import Recorder
from .sender import Sender


@dataclass(frozen=True)
class Parts:
    sender: Sender
    # Every outcome is recorded as its PUT completes, by one group-committing writer.
    recorder: Recorder
    # Bounds the deliveries attempted at once by this process, across every consumer.
    in_flight: asyncio.Semaphore
    pause: Pause

    async def aclose(self) -> None:
        await self.recorder.aclose()
        # After the consumers stopped: no attempt can still be using the client. An open
        # keep-alive connection can hold up e-Kinerja's (or the simulator's) own shutdown.
        await self.sender.aclose()


BknRuntime = Runtime[Settings, Parts]
