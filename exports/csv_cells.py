"""CSV cells a spreadsheet will not run as formulas (CSV injection), shared by every CSV we write.

Used by the ratings export and by the report's CSV tables. Only text cells are escaped: a number
such as -0.25 is data, and quoting it would stop it reading back as a number.
"""

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """The cell with a leading quote when a spreadsheet would otherwise run it as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_text(value: str) -> str:
    """A text cell as `csv.writer` writes it (QUOTE_MINIMAL), after formula escaping.

    Written by hand because the csv module copies long texts character by character, which made
    it most of an export's time; tests check the output reads back with `csv`.
    """
    value = csv_cell(value)
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value
