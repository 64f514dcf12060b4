"""The music-mood model: 4Q clips -> audio features -> valence and arousal per track.

``moodspeaker-train music-mood train`` extracts ``device.shared.audio_features`` from the 4Q
audio emotion set, cross-validates with artists kept out of their own test folds, and
exports ``models/music_mood.npz`` with its manifest entry; ``evidence`` measures which
music people in each mood liked (Emotify, MUMR), and ``transfer`` checks full-quality
files against training-grade re-encodes.
"""
