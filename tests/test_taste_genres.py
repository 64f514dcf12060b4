from device.shared.genres import GENRES, GenreMapper, normalise_tag, split_tag


def test_fixed_order():
    assert GENRES == ("pop", "folk", "jazz", "light", "classical", "rock", "rap")


def test_maps_messy_tags_and_counts_unmapped():
    m = GenreMapper()
    assert m.map("Hip-Hop") == "rap"
    assert m.map("(17)") == "rock"
    assert m.map_all("Rock; Pop") == ["rock", "pop"]
    assert m.map("indie rock") == "rock"
    assert m.map("摇滚") == "rock"
    assert m.map("Vaporwave") is None
    assert m.map("") is None
    assert m.unmapped["vaporwave"] == 1 and m.missing == 1
    assert "vaporwave" in m.report()


def test_override_file(tmp_path):
    f = tmp_path / "aliases.toml"
    f.write_text('[aliases]\nlight = ["vaporwave", "pop"]\n[unmapped]\ntags = ["indie"]\n')
    m = GenreMapper(override=f)
    assert m.map("Vaporwave") == "light"
    assert m.map("pop") == "light"
    assert m.map("indie") is None


def test_normalise():
    assert normalise_tag("  HIP_hop ") == "hip hop"
    assert split_tag("(13)Pop") == ["Pop"]
