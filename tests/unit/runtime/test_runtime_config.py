

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
    bad_json: tuple[object, ...] = (2, -1, 0.5, "", [], {})  # in parameters.extra
    for raw_json in bad_json:
        with pytest.raises(ConfigError, match="require_unit_id"):
            RuntimeConfig.from_sources({"require_unit_id": raw_json}, {})


def test_require_unit_id_takes_the_json_integers_1_and_0_and_null_as_unset() -> None:
    """docs/runtime.md lists 1/0 among the values: as JSON integers in the model-settings'
    ``parameters.extra`` they refused the load before; a JSON null is no value (the default)."""
    from uplift_operator.runtime.config import RuntimeConfig

    assert RuntimeConfig.from_sources({"require_unit_id": 1}, {}).require_unit_id is True
    assert RuntimeConfig.from_sources({"require_unit_id": 0}, {}).require_unit_id is False
    assert RuntimeConfig.from_sources({"require_unit_id": None}, {}).require_unit_id is False
    assert RuntimeConfig.from_sources(
        {"require_unit_id": None}, {"UPLIFT_REQUIRE_UNIT_ID": "on"}).require_unit_id is True
