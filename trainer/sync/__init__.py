"""The trainer's MQTT side: ``ingest`` stores every speaker's listens, ``publish`` delivers
models to one speaker (issue 12; the protocol is ``device.shared.mqtt_protocol``)."""
