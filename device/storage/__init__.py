"""What the speaker keeps on disk: the listening journal, the model store, the active user."""
