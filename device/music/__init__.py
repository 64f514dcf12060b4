"""The music side of the speaker: the library, the picker and what listening teaches it."""
