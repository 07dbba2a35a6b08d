import pytest

from emoaudit.data.files import iter_csv, iter_large_csv
from emoaudit.errors import DataError


def test_large_csv_reader_gives_the_csv_modules_rows_and_line_numbers(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(
        "\ufeffemotion,pixels,Usage\r\n"
        "0,1 2 3,Training\r\n"
        "\r\n"
        '1,"4 5, 6",PublicTest\r\n'
        "2,7 8\r\n"
        "3,9,PrivateTest,extra\r\n"
        "4,10 11,Training".encode("utf-8")
    )
    fast = list(iter_large_csv(path, required=("emotion", "pixels")))
    assert fast == list(iter_csv(path, required=("emotion", "pixels")))
    assert [line for line, _ in fast] == [2, 4, 5, 6, 7]
    assert fast[1][1]["pixels"] == "4 5, 6"
    assert fast[2][1] == {"emotion": "2", "pixels": "7 8", "Usage": ""}


def test_large_csv_reader_names_missing_columns(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DataError, match=r"missing column\(s\) pixels"):
        list(iter_large_csv(path, required=("emotion", "pixels")))
