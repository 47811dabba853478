

def test_unit_key_from_the_environment() -> None:
    from uplift_operator.runtime.config import RuntimeConfig

    assert RuntimeConfig.from_sources({}, {"UPLIFT_UNIT_KEY": "customer_id"}).unit_key == "customer_id"
    assert RuntimeConfig.from_sources({}, {}).unit_key == "unit_id"


def test_require_unit_id_is_off_by_default_and_read_as_a_switch() -> None:
    import pytest

    from uplift_operator.runtime.config import ConfigError, RuntimeConfig

    assert RuntimeConfig.from_sources({}, {}).require_unit_id is False
    for raw in ("true", "TRUE", "1", "yes", "on", " true "):
        assert RuntimeConfig.from_sources({}, {"UPLIFT_REQUIRE_UNIT_ID": raw}).require_unit_id
    for raw in ("false", "0", "no", "off"):
        assert not RuntimeConfig.from_sources(
            {"require_unit_id": True}, {"UPLIFT_REQUIRE_UNIT_ID": raw}).require_unit_id
    assert RuntimeConfig.from_sources({"require_unit_id": True}, {}).require_unit_id
    assert not RuntimeConfig.from_sources({"require_unit_id": "false"}, {}).require_unit_id
    for bad in ("maybe", "2", "tru"):
        with pytest.raises(ConfigError, match="require_unit_id"):
            RuntimeConfig.from_sources({}, {"UPLIFT_REQUIRE_UNIT_ID": bad})
    with pytest.raises(ConfigError, match="require_unit_id"):
        RuntimeConfig.from_sources({"require_unit_id": 1}, {})
