

def test_unit_key_from_the_environment() -> None:
    from uplift_operator.runtime.config import RuntimeConfig

    assert RuntimeConfig.from_sources({}, {"UPLIFT_UNIT_KEY": "customer_id"}).unit_key == "customer_id"
    assert RuntimeConfig.from_sources({}, {}).unit_key == "unit_id"
