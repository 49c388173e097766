"""User errors say what, where (file and line, or parameter) and what to do."""

from observatory.errors import DataFormatError, ParameterError, did_you_mean


def test_file_and_line_come_first():
    error = DataFormatError("bad timestamp", path="/data/x.lp", line=12, hint="Fix the line.")
    assert str(error) == "/data/x.lp:12: bad timestamp. Fix the line."


def test_parameter_is_named():
    assert str(ParameterError("must be positive", parameter="days")) == "parameter 'days': must be positive"


def test_did_you_mean_lists_valid_values_when_nothing_is_close():
    assert did_you_mean("zzz", ["fr", "en"]) == "Valid values: en, fr."
