"""The taste model: social posts + listening history -> mood-aware genre preferences.

Pipeline (``moodspeaker-train taste build``): importers -> post mood -> equation 1
preferences -> Tucker completion -> track neighbours (equations 5-6) -> ``taste.npz``.
"""
