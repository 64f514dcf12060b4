"""The library as the speaker loop sees it: look tracks up, forget the ones that fail."""

from __future__ import annotations

import os
from pathlib import Path

from device.music.library.index import LibraryIndex, Track


class IndexCatalog:
    """The speaker's view of the index (implements ``device.loop.speaker.Catalog``)."""

    def __init__(self, index: LibraryIndex, root: Path):
        self.index = index
        self.root = Path(root)

    def get(self, track_id: str) -> Track | None:
        return self.index.get(track_id)

    def available(self) -> bool:
        """False when the folder is gone or empty: an unmounted disk leaves an empty
        mount point, and its tracks must not be forgotten one by one."""
        return library_reachable(self.root)

    def forget(self, track: Track, error: str) -> None:
        if self.available():
            self.index.forget(track.track_id, error)


def library_reachable(path: Path) -> bool:
    """A folder with something in it: an unmounted disk leaves a missing or empty folder."""
    try:
        with os.scandir(path) as it:
            return any(True for _ in it)
    except OSError:
        return False
