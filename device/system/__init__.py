"""The speaker as a system: configuration, start-up wiring, systemd, install, the demo."""
