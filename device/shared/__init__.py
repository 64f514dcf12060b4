"""What the speaker and the trainer share, and the only part of ``device`` the trainer imports.

The artifact formats (manifest, taste, music mood, the FER model and its input), the MQTT
topics and payloads, the listen row, the vocabularies (moods, genres), the audio features
both sides must compute identically, and the small helpers both command lines use. Nothing
here imports from the rest of ``device``.
"""
