import csv
import io

import pytest

from exports.csv_cells import csv_cell, csv_text


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_a_csv_cell_that_a_spreadsheet_would_run_gets_a_leading_quote(
    cell: str, written: str
) -> None:
    assert csv_cell(cell) == written


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "a,b", "line\nbreak", "cr\rhere", "crlf\r\n", "plain", "ünïcødé ✓", ""],
)
def test_a_csv_text_cell_is_written_as_the_csv_module_writes_it(text: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([text, "x"])

    assert csv_text(text) + ",x\r\n" == buffer.getvalue()
