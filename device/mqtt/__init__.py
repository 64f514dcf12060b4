"""MQTT: remote control, Home Assistant, listening-log sync and model delivery (issue 12)."""
