import pytest
from pydantic import SecretStr

from pump_anthropic.domain.admin_key import check_admin_key_shape, key_hint
from pump_anthropic.exceptions import InvalidKeyFormatError, StandardKeyNotAllowedError

ADMIN = "sk-ant-admin01-" + "a1_-" * 23 + "bAA"


def test_an_admin_key_passes_and_is_stripped():
    assert check_admin_key_shape(SecretStr(f"  {ADMIN}\n")).get_secret_value() == ADMIN


def test_a_standard_key_gets_its_own_error():
    with pytest.raises(StandardKeyNotAllowedError) as error:
        check_admin_key_shape(SecretStr("sk-ant-api03-" + "a" * 95))
    assert "Admin" in error.value.message


@pytest.mark.parametrize(
    "value",
    ["", "sk-ant-admin01-short", "sk-ant-admin٠١-" + "a" * 95, "sk-ant-admin01-" + "é" * 95, ADMIN + "x" * 400],
)
def test_other_shapes_are_invalid_and_never_echoed(value):
    with pytest.raises(InvalidKeyFormatError) as error:
        check_admin_key_shape(SecretStr(value))
    assert not value or value not in error.value.message


def test_the_hint_shows_the_prefix_and_last_four_only():
    assert key_hint(SecretStr(ADMIN)) == "sk-ant-admin01-…" + ADMIN[-4:]
