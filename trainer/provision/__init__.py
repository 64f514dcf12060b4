"""``moodspeaker-train speakers``: provision a Mosquitto broker for a house from the desktop.

One broker folder holds everything: the password file (``passwd``), the ACL (``acl``), a
complete Mosquitto 2 configuration (``moodspeaker.conf``), each speaker's ``[mqtt]``
section (``speakers/NAME.toml``) and each service user's connection settings
(``clients/NAME.toml`` and ``clients/NAME.env``). docs/mqtt.md, "Broker setup" and "Threat
model", explain the rights each user gets.
"""
