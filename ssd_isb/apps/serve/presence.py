"""People entering and leaving a stream, by track ID (TF-free).

A tracked person *enters* on the first frame their ID appears and *leaves* once their ID has
not been seen for ``grace`` frames (the tracker keeps a lost person's ID that long, so a
person hidden for a moment neither leaves nor enters again).
"""

from __future__ import annotations

from typing import Dict, Iterable, List


class Presence:
    """Enter/leave events from the track IDs of each frame.

    Args:
        grace: frames an ID may be missing before its person has left.
    """

    def __init__(self, grace: int = 30):
        self.grace = int(grace)
        self.last_seen: Dict[int, int] = {}

    def update(self, frame: int, ids: Iterable[int]) -> List[Dict]:
        """The events of ``frame``: ``{"type": "enter"|"leave", "track_id", "frame"}``."""
        events = []
        for tid in (int(t) for t in ids):
            if tid not in self.last_seen:
                events.append({"type": "enter", "track_id": tid, "frame": frame})
            self.last_seen[tid] = frame
        for tid, seen in list(self.last_seen.items()):
            if frame - seen > self.grace:
                events.append({"type": "leave", "track_id": tid, "frame": frame})
                del self.last_seen[tid]
        return events

    @property
    def present(self) -> int:
        """People in view (or hidden for less than the grace)."""
        return len(self.last_seen)
