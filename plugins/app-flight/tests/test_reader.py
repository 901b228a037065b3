"""Reading a flight file: what is refused, and the one line that names file, line and column."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from agilab_app_flight.reader import FlightFileError, parse_flight, records
from hypothesis import given, settings
from hypothesis import strategies as st

HEADER = ",date,aircraft,long,lat,alt"


def flight(rows: list[str], header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def fix(i: int, long: str = "1.0", lat: str = "2.0", alt: str = "100", date: str | None = None) -> str:
    when = date if date is not None else f"{dt.datetime(2021, 1, 1) + dt.timedelta(seconds=i):%Y-%m-%d %H:%M:%S}"
    return f"{i},{when},60,{long},{lat},{alt}"


def refusal(content: bytes) -> str:
    with pytest.raises(FlightFileError) as caught:
        parse_flight(content, "sub/60_1.csv")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("sub/60_1.csv")
    return message


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (fix(2, lat="NaN"), "line 4, lat: nan is not a finite number"),
        (fix(2, long="inf"), "line 4, long: inf is not a finite number"),
        (fix(2, long="-1e999"), "line 4, long: -inf is not a finite number"),
        (fix(2, alt="nan"), "line 4, alt: nan is not a finite number"),
        (fix(2, lat="999"), "line 4, lat: 999.0 is outside -90..90 degrees"),
        (fix(2, lat="-90.5"), "line 4, lat: -90.5 is outside -90..90 degrees"),
        (fix(2, long="180.01"), "line 4, long: 180.01 is outside -180..180 degrees"),
        (fix(2, date=""), "line 4, date: empty"),
        (fix(2, date="2021-01-01"), "line 4, date: '2021-01-01' does not match YYYY-MM-DD HH:MM:SS"),
        (fix(2, date="2021-01-01 24:00:00"), "line 4, date: '2021-01-01 24:00:00' does not match"),
        (fix(2, long="east"), "line 4, long: 'east' is not a number"),
        (fix(2, lat="1_000"), "line 4, lat: '1_000' is not a number"),
        ("2,2021-01-01 00:00:02,60,1.0,2.0", "line 4, alt: missing, the row has 5 of the header's 6 fields"),
        ("2,2021-01-01 00:00:02,60", "line 4, long: missing, the row has 3 of the header's 6 fields"),
        (fix(2) + ",surplus", "line 4: 7 fields where the header has 6"),
    ],
)
def test_a_bad_value_or_row_is_refused_naming_line_and_column(bad: str, words: str) -> None:
    assert words in refusal(flight([fix(0), fix(1), bad, fix(3)]))


def test_the_first_bad_line_is_named_even_past_the_rows_polars_infers_from() -> None:
    rows = [fix(i) for i in range(300)]
    rows[250] = fix(250, long="east")
    assert "line 252, long: 'east'" in refusal(flight(rows))
    rows[250] = fix(250, long="nan")
    assert "line 252, long: nan" in refusal(flight(rows))


def test_short_rows_are_told_apart_from_empty_last_cells() -> None:
    good = parse_flight(flight([fix(0), fix(1, alt=""), fix(2, alt="")]), "f.csv")
    assert good["alt"].to_list() == [100.0, None, None]
    assert "line 3, alt: missing" in refusal(flight([fix(0), "1,2021-01-01 00:00:01,60,1.0,2.0", fix(2, alt="")]))


def test_empty_coordinates_and_aircraft_are_nulls_not_errors() -> None:
    frame = parse_flight(flight(["0,2021-01-01 00:00:00,,,,"]), "f.csv")
    assert frame.row(0) == (dt.datetime(2021, 1, 1), None, None, None, None)


def test_frames_come_in_one_column_order_without_the_index() -> None:
    frame = parse_flight(flight(["x,1,0,2,2021-01-01 00:00:00,60,7"], header="squawk,lat,,long,date,aircraft,leg"), "f.csv")
    assert frame.columns == ["date", "aircraft", "long", "lat", "alt", "squawk", "leg"]
    assert frame.schema["alt"] == pl.Float64 and frame["alt"][0] is None


def test_line_numbers_count_blank_lines_crlf_and_quoted_line_breaks() -> None:
    rows = [fix(0) + ",x", "", '1,"2021-01-01 00:00:01",60,1.0,2.0,3,"a\nb"', "", fix(2, lat="91") + ',"c,d"']
    assert "line 7, lat: 91.0" in refusal(flight(rows, header=HEADER + ",note"))
    crlf = flight([fix(0), "", fix(1, date="bad")], end="\r\n")
    assert "line 4, date: 'bad'" in refusal(crlf)


def test_blank_lines_are_skipped() -> None:
    frame = parse_flight(flight([fix(0), "", fix(1), ""], end="\r\n"), "f.csv")
    assert frame.height == 2 and frame["long"].to_list() == [1.0, 1.0]


def test_an_extra_column_that_changes_type_late_is_read_as_text() -> None:
    rows = [fix(i) + f",{i}" for i in range(150)] + [fix(150) + ",n/a"]
    frame = parse_flight(flight(rows, header=HEADER + ",squawk"), "f.csv")
    assert frame.schema["squawk"] == pl.String and frame["squawk"][-1] == "n/a"


def test_bytes_that_are_not_utf8_are_named_by_line() -> None:
    content = flight([fix(0), fix(1)]).replace(b",60,1.0,2.0,100\n1", b",6\xff,1.0,2.0,100\n1", 1)
    assert "line 2: byte 0xff is not UTF-8 text" in refusal(content)


def test_markup_and_escape_sequences_in_values_are_quoted_harmlessly() -> None:
    message = refusal(flight([fix(0, long="[/x]\x1b[31m")]))
    assert "long: '[/x]\\x1b[31m' is not a number" in message
    frame = parse_flight(flight(["0,2021-01-01 00:00:00,[bold]\x1b[0m,1,2,3"]), "f.csv")
    assert frame["aircraft"][0] == "[bold]\x1b[0m"


def test_empty_and_header_only_files() -> None:
    assert "sub/60_1.csv: empty file" in refusal(b"")
    assert parse_flight(flight([]), "f.csv").height == 0


# One field of a CSV text: plain, or quoted with separators, line breaks and doubled quotes inside.
field = st.one_of(
    st.text(alphabet="ab 1.", max_size=4),
    st.text(alphabet='ab,\n"', max_size=5).map(lambda t: '"' + t.replace('"', '""') + '"'),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(field, min_size=1, max_size=5), min_size=1, max_size=8), crlf=st.booleans())
def test_records_find_each_rows_line_and_field_count(rows: list[list[str]], crlf: bool) -> None:
    end = "\r\n" if crlf else "\n"
    lines = [",".join(r) for r in rows]
    text = end.join(lines) + end
    found = records(text.encode())
    assert found.fields.tolist() == [len(r) for r in rows]
    starts = [1 + sum(line.count("\n") + 1 for line in lines[:i]) for i in range(len(lines))]
    assert found.line.tolist() == starts
    assert found.blank.tolist() == [line == "" for line in lines]


def test_validated_frames_have_parsed_dates_and_finite_coordinates() -> None:
    frame = parse_flight(flight([fix(0, lat="-90", long="180"), fix(1, lat="90", long="-180")]), "f.csv")
    assert frame.schema["date"] == pl.Datetime("us")
    assert all(math.isfinite(v) for v in frame["lat"].to_list() + frame["long"].to_list())
