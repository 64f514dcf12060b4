"""The music library: tags read with mutagen, genres mapped, indexed in SQLite."""

from device.music.library.catalog import IndexCatalog
from device.music.library.index import LibraryIndex, Track
from device.music.library.scanner import ScanReport, scan_library
from device.music.library.tags import AUDIO_EXTENSIONS, TagError, read_tags

__all__ = [
    "AUDIO_EXTENSIONS", "IndexCatalog", "LibraryIndex", "ScanReport", "TagError", "Track",
    "read_tags", "scan_library",
]
