"""The speaker loop: one thread owns the state; typed commands in, events out."""
