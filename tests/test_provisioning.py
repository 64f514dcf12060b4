"""``moodspeaker-train speakers add|list|remove`` (trainer/provision): the files it writes,
what it refuses, and a real Mosquitto started from its ``moodspeaker.conf`` that accepts the
passwords it hashed in Python (and refuses others), over plain TCP and TLS."""

from __future__ import annotations

import stat
import subprocess
import time

import pytest

from device.shared.mqtt_client import ConnectError
from tests.harness.broker import (
    MOSQUITTO,
    MOSQUITTO_PASSWD,
    SKIP_REASON,
    Peer,
    ProvisionError,
    credentials,
    provision,
    provision_broker,
    read_credentials,
)
from trainer.provision import passwd

needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason=SKIP_REASON)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "broker"
    provision(d, "add", "kitchen", "--host", "broker.lan", "--persistence-dir",
              str(tmp_path / "data"))
    return d


def test_add_list_remove_round_trip(folder):
    out = provision(folder, "add", "bedroom")
    assert "bedroom" in out and "systemctl reload mosquitto" in out
    provision(folder, "add", "worker2", "--role", "ingest")
    listing = provision(folder, "list")
    rows = {tuple(line.split()[:2]) for line in listing.splitlines()[2:]}
    assert rows == {("homeassistant", "homeassistant"), ("ingest", "ingest"),
                    ("publisher", "publisher"), ("ingest", "worker2"),
                    ("speaker", "kitchen"), ("speaker", "bedroom")}
    for user in ("kitchen", "bedroom", "ingest", "worker2"):
        assert credentials(folder, user)[1] not in listing  # never a password
    users = passwd.parse((folder / "passwd").read_text())
    assert set(users) == {"homeassistant", "ingest", "publisher", "worker2", "kitchen",
                          "bedroom"}
    for user in users:
        assert passwd.verify_password(credentials(folder, user)[1], users[user])
    assert len({credentials(folder, u)[1] for u in users}) == len(users)  # all different

    out = provision(folder, "remove", "bedroom")
    assert "systemctl reload mosquitto" in out
    assert "bedroom" not in passwd.parse((folder / "passwd").read_text())
    assert "bedroom" not in (folder / "acl").read_text()
    assert not (folder / "speakers" / "bedroom.toml").exists()
    provision(folder, "remove", "worker2")
    assert not (folder / "clients" / "worker2.toml").exists()
    assert not (folder / "clients" / "worker2.env").exists()
    assert "bedroom" not in provision(folder, "list")
    with pytest.raises(ProvisionError, match="not a user"):
        provision(folder, "remove", "bedroom")
    with pytest.raises(ProvisionError, match="service user"):
        provision(folder, "remove", "ingest")


def test_files_and_modes(folder):
    assert mode(folder / "passwd") == 0o600
    for sub in ("speakers", "clients"):
        assert mode(folder / sub) == 0o700
    for p in [*(folder / "speakers").iterdir(), *(folder / "clients").iterdir()]:
        assert mode(p) == 0o600, p
    assert mode(folder / "acl") == 0o644 and mode(folder / "moodspeaker.conf") == 0o644
    assert not [p for p in folder.rglob(".*") if p.name != ".lock"]  # no temp files left
    spk = read_credentials(folder / "speakers" / "kitchen.toml")
    assert spk["device_id"] == spk["username"] == "kitchen"
    assert spk["host"] == "broker.lan" and spk["port"] == 1883 and len(spk["password"]) >= 32
    assert "tls_ca" not in spk
    env = (folder / "clients" / "ingest.env").read_text()
    assert f"MOODSPEAKER_MQTT_PASSWORD={credentials(folder, 'ingest')[1]}\n" in env
    assert "INGEST_ARGS=--host broker.lan --port 1883 --username ingest\n" in env
    conf = (folder / "moodspeaker.conf").read_text()
    for line in ("per_listener_settings false", "allow_anonymous false",
                 f"password_file {folder.resolve() / 'passwd'}",
                 f"acl_file {folder.resolve() / 'acl'}", "use_username_as_clientid true",
                 "max_packet_size 1048576", "max_queued_messages 100000",
                 "persistence true", "listener 1883"):
        assert f"\n{line}\n" in conf, line


@pytest.mark.parametrize("name", ["", "a/b", "x+", "#", "kit chen", "k" * 65, "ümlaut",
                                  "ingest", "publisher", "homeassistant"])
def test_bad_names_are_refused(folder, name):
    before = (folder / "passwd").read_text()
    with pytest.raises(ProvisionError):
        provision(folder, "add", name)
    assert (folder / "passwd").read_text() == before


def test_a_duplicate_is_refused_and_rotate_replaces_the_password(folder):
    old = credentials(folder, "kitchen")[1]
    with pytest.raises(ProvisionError, match=r"exists.*--rotate"):
        provision(folder, "add", "kitchen")
    assert credentials(folder, "kitchen")[1] == old
    provision(folder, "add", "kitchen", "--rotate")
    new = credentials(folder, "kitchen")[1]
    hashed = passwd.parse((folder / "passwd").read_text())["kitchen"]
    assert new != old and passwd.verify_password(new, hashed)
    assert not passwd.verify_password(old, hashed)
    with pytest.raises(ProvisionError, match="role speaker"):
        provision(folder, "add", "kitchen", "--rotate", "--role", "ingest")
    with pytest.raises(ProvisionError, match="not a user"):
        provision(folder, "add", "garage", "--rotate")


def test_bad_broker_options_are_refused(tmp_path, folder):
    with pytest.raises(ProvisionError, match="go together"):
        provision(tmp_path / "x", "add", "a", "--tls-ca", str(folder / "acl"))
    with pytest.raises(ProvisionError, match="not a TCP port"):
        provision(tmp_path / "x", "add", "a", "--port", "70000")
    with pytest.raises(ProvisionError, match="not a broker folder"):
        provision(tmp_path / "nothing", "list")


def test_hashes_match_mosquitto_passwd(tmp_path):
    if MOSQUITTO_PASSWD is None:
        pytest.skip(SKIP_REASON)
    pw = tmp_path / "pw"
    pw.touch()
    subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), "u", "s3cret"], check=True)
    hashed = passwd.parse(pw.read_text())["u"]
    assert hashed.startswith("$7$101$")
    assert passwd.verify_password("s3cret", hashed)
    assert not passwd.verify_password("s3creT", hashed)
    salt = passwd.base64.b64decode(hashed.split("$")[3])
    assert passwd.hash_password("s3cret", salt=salt) == hashed  # the same function


@needs_mosquitto
def test_mosquitto_accepts_the_python_hashes_and_refuses_others(tmp_path):
    broker = provision_broker(tmp_path / "b", ["kitchen"])
    try:
        user, password = credentials(broker.folder, "kitchen")
        Peer(broker.settings(username=user, password=password), user).close()
        for who, pw in (("kitchen", password + "x"), ("kitchen", ""), ("nobody", password),
                        ("ingest", password)):
            with pytest.raises(ConnectError):
                Peer(broker.settings(username=who, password=pw), who)
        with pytest.raises(ConnectError):  # anonymous
            Peer(broker.settings(), "anon")
        # rotate, then reload: the old password stops working, the new one works
        provision(broker.folder, "add", "kitchen", "--rotate")
        broker.reload()
        new = credentials(broker.folder, "kitchen")[1]
        for _ in range(50):
            try:
                Peer(broker.settings(username=user, password=password), user).close()
            except ConnectError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the old password still works after a reload")
        Peer(broker.settings(username=user, password=new), user).close()
        # remove, then reload: refused
        provision(broker.folder, "remove", "kitchen")
        broker.reload()
        time.sleep(0.5)
        with pytest.raises(ConnectError):
            Peer(broker.settings(username=user, password=new), user)
    finally:
        broker.stop()


@needs_mosquitto
def test_the_tls_listener(tmp_path, mqtt_certs):
    broker = provision_broker(tmp_path / "b", ["kitchen"], certs=mqtt_certs)
    try:
        conf = (broker.folder / "moodspeaker.conf").read_text()
        tls_block = conf[conf.index(f"\nlistener {broker.tls_port} 127.0.0.1\n"):]
        assert f"\ncafile {mqtt_certs.ca.resolve()}\n" in tls_block
        assert f"\nkeyfile {mqtt_certs.server_key.resolve()}\n" in tls_block
        assert "require_certificate false" in conf
        # use_username_as_clientid under each listener, not before the first (which would
        # open a default listener on port 1883 of every interface)
        assert conf.count("use_username_as_clientid true") == 2
        opened = [line for line in broker.log_text().splitlines() if "listen socket" in line]
        assert sorted(line.split()[-1].rstrip(".") for line in opened) == sorted(
            [str(broker.port), str(broker.tls_port)]), opened
        spk = read_credentials(broker.folder / "speakers" / "kitchen.toml")
        assert spk["port"] == broker.tls_port and spk["tls_ca"] == "/etc/moodspeaker/ca.crt"
        ha = read_credentials(broker.folder / "clients" / "homeassistant.toml")
        assert ha["tls_ca"] == str(mqtt_certs.ca.resolve())
        settings = broker.tls_settings(username="kitchen", password=spk["password"])
        assert settings.tls
        got = Peer(settings, "kitchen", ["moodspeaker/kitchen/set/+"])
        ha_peer = Peer(broker.tls_settings(username="homeassistant",
                                           password=ha["password"]), "ha")
        ha_peer.publish("moodspeaker/kitchen/set/next", "")
        assert got.received() == [("moodspeaker/kitchen/set/next", b"")]
        got.close()
        ha_peer.close()
        with pytest.raises(ConnectError):  # TLS port, wrong password
            Peer(broker.tls_settings(username="kitchen", password="nope"), "kitchen")
    finally:
        broker.stop()
