"""The music library: tags read with mutagen, genres mapped, indexed in SQLite."""

from .catalog import IndexCatalog
from .index import LibraryIndex, Track
from .scanner import ScanReport, scan_library
from .tags import AUDIO_EXTENSIONS, TagError, read_tags

__all__ = [
    "AUDIO_EXTENSIONS", "IndexCatalog", "LibraryIndex", "ScanReport", "TagError", "Track",
    "read_tags", "scan_library",
]
