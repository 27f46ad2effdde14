"""Bulk event loading: MovieLens end to end, mappings, idempotence, rejects, whole-file errors."""

from __future__ import annotations

import csv
import json
import time
from datetime import date, datetime, timezone

import pytest

from conftest import MOVIELENS, need
from ragrec.events.load import EventLoadError, EventMapping, load_events
from ragrec.events.models import EventType


def catalog(*items):
    known = set(items)
    return lambda ids: known & set(ids)


def rejects_of(report):
    return {r["line"]: r for r in map(json.loads, open(report.rejects_file, encoding="utf-8"))}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_movielens_ratings_load_end_to_end_and_reload_stores_nothing(event_log, tmp_path):
    ratings = need(MOVIELENS / "ratings.csv")
    with open(MOVIELENS / "movies.csv", encoding="utf-8") as f:
        movies = {row["movieId"] for row in csv.DictReader(f)}
    progress = []
    cpu = time.process_time()
    report = load_events(ratings, EventMapping.movielens(), event_log, lambda ids: movies & set(ids),
                         rejects_path=tmp_path / "rejects.jsonl", on_progress=lambda n, est: progress.append((n, est)))
    cpu = time.process_time() - cpu
    print(f"\nMovieLens ratings.csv into {event_log.dialect}: {report.read:,} rows in {report.seconds:.1f}s "
          f"({report.rows_per_second:,.0f} rows/s; {report.read / cpu:,.0f} rows per CPU second of this process)")
    assert (report.read, report.stored, report.duplicates, report.rejected) == (100_836, 100_836, 0, 0)
    assert report.rejects_file is None and progress[-1] == (100_836, 100_836)
    assert event_log.count() == 100_836 and event_log.user_count() == 610

    first = event_log.user_events("1")[0]  # user 1's earliest rating in the file: movie 804, 4.0, 964980499
    assert (first.item_id, first.type, first.value) == ("804", EventType.rating, 4.0)
    assert first.timestamp == datetime.fromtimestamp(964980499, timezone.utc)
    assert event_log.popularity()["356"] == 329  # Forrest Gump: the most rated movie

    again = load_events(ratings, EventMapping.movielens(), event_log, lambda ids: movies & set(ids),
                        rejects_path=tmp_path / "rejects.jsonl")
    assert (again.stored, again.duplicates, again.rejected) == (0, 100_836, 0)
    assert event_log.count() == 100_836


def test_a_file_without_a_time_column_is_timed_at_the_load_in_its_order(event_log, tmp_path):
    """goodbooks-10k's ratings.csv is user_id,book_id,rating: the file's order is the only order there is."""
    path = write(tmp_path / "ratings.csv", "user_id,book_id,rating\n7,b2,5\n7,b1,2\n8,b1,4\n7,b3,4\n")
    mapping = EventMapping(user_field="user_id", item_field="book_id", type=EventType.rating, value_field="rating",
                           timestamp_field=None)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    report = load_events(path, mapping, event_log, catalog("b1", "b2", "b3"), rejects_path=tmp_path / "r.jsonl")
    assert (report.read, report.stored, report.rejected) == (4, 4, 0)
    events = event_log.user_events("7")
    assert [e.item_id for e in events] == ["b2", "b1", "b3"]  # the file's order
    assert before <= events[0].timestamp < events[1].timestamp < events[2].timestamp <= datetime.now(timezone.utc)
    again = load_events(path, mapping, event_log, catalog("b1", "b2", "b3"), rejects_path=tmp_path / "r.jsonl")
    assert (again.stored, again.duplicates) == (0, 4)  # ids from the rows' lines: a reload adds nothing
    jsonl = write(tmp_path / "r.jsonl.in", '{"user_id": "9", "book_id": "b1", "rating": 3}\n')
    assert load_events(jsonl, mapping.model_copy(update={"format": "jsonl"}), event_log, catalog("b1"),
                       rejects_path=tmp_path / "r.jsonl").stored == 1


def test_bad_rows_land_in_the_rejects_file_with_reasons(event_log, tmp_path):
    path = write(tmp_path / "events.csv", "\n".join([
        "user,item,kind,stars,when",
        "u1,m1,view,,1700000000",           # 2 ok
        ",m1,view,,1700000000",             # 3 missing user
        "u1,m1,view,,yesterday",            # 4 unparsable timestamp
        "u1,nope,view,,1700000000",         # 5 unknown item
        "u1,m2,rating,,1700000001",         # 6 rating without value
        "u1,m2,rating,4.5,1700000002",      # 7 ok
        "u2,m2,frown,,1700000003",          # 8 unknown type
        "u2,m2,rating,lots,1700000004",     # 9 bad value
        "u2,m1,view,,",                     # 10 missing timestamp
        "u2,m1",                            # 11 wrong field count
        "u2,,click,,1700000005",            # 12 missing item
        "u2,m1,Add-To-Cart,,1700000006",    # 13 ok (type names are forgiving)
        "u2,m1,view,,1e99",                 # 14 out of range
    ]) + "\n")
    mapping = EventMapping(user_field="user", item_field="item", type_field="kind", value_field="stars",
                           timestamp_field="when", timestamp_format="epoch")
    report = load_events(path, mapping, event_log, catalog("m1", "m2"), rejects_path=tmp_path / "r.jsonl",
                         batch_size=5)
    assert (report.read, report.stored, report.duplicates, report.rejected) == (13, 3, 0, 10)
    got = {line: r["reason"] for line, r in rejects_of(report).items()}
    assert got[3] == "missing user (field 'user')"
    assert got[4] == "timestamp 'yesterday' is not epoch seconds"
    assert got[5] == "unknown item nope"
    assert got[6] == "a rating needs a value (field 'stars' is empty)"
    assert got[8].startswith("unknown event type 'frown': use one of view, click")
    assert got[9] == "value 'lots' (field 'stars') is not a finite number"
    assert got[10] == "missing timestamp (field 'when')"
    assert got[11] == "has 2 fields, the header has 5"
    assert got[12] == "missing item (field 'item')"
    assert got[14] == "timestamp '1e99' is out of range (not a date in the years 1-9999)"  # not "not epoch seconds"
    assert rejects_of(report)[5]["event_id"]  # a parsed row keeps its (hash) id in the rejects file
    lines = [json.loads(line)["line"] for line in open(report.rejects_file, encoding="utf-8")]
    assert lines == sorted(lines)  # in the file's order: the unknown item (5) is not written after line 6's reject
    assert [e.type for e in event_log.user_events("u2")] == [EventType.add_to_cart]


def test_a_clean_load_leaves_no_earlier_rejects_file(event_log, tmp_path):
    path = write(tmp_path / "e.csv", "user_id,item_id,type,timestamp\nu1,i1,like,1700000000\nu1,nope,like,1\n")
    rejects = tmp_path / "r.jsonl"
    assert load_events(path, EventMapping(), event_log, catalog("i1"), rejects_path=rejects).rejected == 1
    write(path, "user_id,item_id,type,timestamp\nu1,i1,like,1700000000\n")
    assert load_events(path, EventMapping(), event_log, catalog("i1"), rejects_path=rejects).rejects_file is None
    assert not rejects.exists()


def test_a_missing_mapped_column_refuses_the_whole_file(event_log, tmp_path):
    path = write(tmp_path / "ratings.csv", "userId,movieId,timestamp\n1,1,964982703\n")
    with pytest.raises(EventLoadError, match="no column 'rating'"):
        load_events(path, EventMapping.movielens(), event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl")
    jsonl = write(tmp_path / "e.jsonl", '{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n')
    with pytest.raises(EventLoadError, match="no field 'type'"):
        load_events(jsonl, EventMapping(), event_log, catalog("i1"), rejects_path=tmp_path / "r.jsonl")
    goodbooks = write(tmp_path / "goodbooks.csv", "user_id,book_id,rating\n1,1,5\n")
    mapping = EventMapping(item_field="book_id", type=EventType.rating, value_field="rating")
    with pytest.raises(EventLoadError, match=r"no column 'timestamp'; the file has: user_id, book_id, rating \(a file "
                                             r"without a time column loads with --no-timestamp; a time column of "
                                             r"another name: --timestamp-field\)"):
        load_events(goodbooks, mapping, event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl")
    jsonl = write(tmp_path / "e.jsonl", '{"user_id": "u1", "item_id": "i1", "type": "like"}\n')
    with pytest.raises(EventLoadError, match=r"no field 'timestamp'; it has: user_id, item_id, type \(a file without"):
        load_events(jsonl, EventMapping(), event_log, catalog("i1"), rejects_path=tmp_path / "r.jsonl")
    with pytest.raises(EventLoadError, match="no such file"):
        load_events(tmp_path / "absent.csv", EventMapping(), event_log, catalog(), rejects_path=tmp_path / "r.jsonl")
    assert event_log.count() == 0 and not (tmp_path / "r.jsonl").exists()


def test_jsonl_with_client_event_ids_and_iso_times(event_log, tmp_path):
    rows = [
        {"id": "e1", "user": 7, "item": 1, "type": "purchase", "at": "2024-05-01T10:00:00Z"},
        {"id": "e2", "user": 7, "item": 2, "type": "rating", "score": 3, "at": "2024-05-01T11:00:00+02:00"},
        {"id": "e1", "user": 7, "item": 2, "type": "view", "at": "2024-05-02T10:00:00Z"},  # e1 reused: rejected
        {"user": 7, "item": 2, "type": "like", "at": "2024-05-01T09:30:00"},  # no id: hashed; naive = UTC
        {"id": "e9", "user": 8, "item": 1, "type": "view", "at": 1714557600},  # a number in ISO mode
    ]
    path = write(tmp_path / "events.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    mapping = EventMapping(user_field="user", item_field="item", value_field="score", timestamp_field="at",
                           timestamp_format="iso", event_id_field="id")
    report = load_events(path, mapping, event_log, catalog("1", "2"), rejects_path=tmp_path / "r.jsonl")
    assert (report.stored, report.duplicates, report.rejected) == (3, 0, 2)
    assert rejects_of(report)[5] == {"line": 5, "event_id": "e9", "reason": "timestamp 1714557600 is not an ISO 8601 time"}
    assert rejects_of(report)[3]["reason"].startswith("event_id 'e1' is already used earlier in this batch by another")
    got = event_log.user_events("7")
    assert [(e.item_id, e.type.value) for e in got] == [("2", "rating"), ("2", "like"), ("1", "purchase")]
    assert got[0].value == 3.0 and got[0].event_id == "e2" and len(got[1].event_id) == 32

    again = load_events(path, mapping, event_log, catalog("1", "2"), rejects_path=tmp_path / "r.jsonl")
    assert (again.stored, again.duplicates, again.rejected) == (0, 3, 2)  # e1's second use is refused again


@pytest.mark.parametrize("written", ["like", "LIKE", " Like ", "add-to-cart", "Add To Cart", "ADD_TO_CART"])
def test_a_type_reads_the_same_in_any_case_and_spelling(written):
    from ragrec.events.models import Event

    assert EventType(written) in (EventType.like, EventType.add_to_cart)
    event = Event(user_id=" u1 ", item_id="\t7", type=written, event_id=" e1")
    assert (event.user_id, event.item_id, event.event_id) == ("u1", "7", "e1")  # as a file's columns are read
    with pytest.raises(ValueError):
        EventType("love")


def test_hashed_ids_depend_on_the_event_not_the_file(event_log, tmp_path):
    """The same events as epoch CSV and as ISO JSON Lines (another column order) are one set of events."""
    epoch = write(tmp_path / "a.csv", "u,i,t,v,ts\n1,10,rating,4.0,964982703\n1,11,view,,964982704.5\n")
    iso = write(tmp_path / "b.jsonl",
                '{"ts": "2000-07-30T18:45:03+00:00", "v": 4, "t": "rating", "i": "10", "u": "1"}\n'
                '{"ts": "2000-07-30T18:45:04.500000Z", "t": "view", "i": 11, "u": 1}\n'
                '{"ts": "2000-07-30T18:45:05Z", "t": "view", "i": 11, "u": 1}\n')
    mapping = EventMapping(user_field="u", item_field="i", type_field="t", value_field="v", timestamp_field="ts")
    first = load_events(epoch, mapping, event_log, catalog("10", "11"), rejects_path=tmp_path / "r.jsonl")
    second = load_events(iso, mapping, event_log, catalog("10", "11"), rejects_path=tmp_path / "r.jsonl")
    assert (first.stored, second.stored, second.duplicates) == (2, 1, 2)


@pytest.mark.parametrize(("raw", "expected"), [
    ("964982703", "2000-07-30T18:45:03"), (964982703.5, "2000-07-30T18:45:03.500000"),
    ("964982703500", "2000-07-30T18:45:03.500000"),  # milliseconds: seconds that large are after the year 5000
    (964982703500001, "2000-07-30T18:45:03.500001"), ("964982703500001999", "2000-07-30T18:45:03.500001"),  # µs, ns
    ("20240101", "2024-01-01T00:00:00"),  # YYYYMMDD, not 1970-08-23 in epoch seconds
    ("19991399", "1970-08-20T09:09:59"),  # no such date: epoch seconds after all
    ("2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00"), ("20240101T120000", "2024-01-01T12:00:00"),
])
def test_auto_timestamps_read_the_usual_forms(raw, expected):
    from ragrec.events.load import _auto_time

    assert _auto_time(raw).astimezone(timezone.utc).replace(tzinfo=None).isoformat() == expected


def test_constant_type_and_on_stored_see_only_new_events(event_log, tmp_path):
    path = write(tmp_path / "clicks.csv", "user_id,item_id,timestamp\nu1,a,2024-01-01T00:00:00\nu1,b,2024-01-02T00:00:00\n")
    mapping = EventMapping(type=EventType.click)
    assert mapping.type_field is None
    seen = []
    load_events(path, mapping, event_log, catalog("a", "b"), rejects_path=tmp_path / "r.jsonl", on_stored=seen.extend)
    load_events(path, mapping, event_log, catalog("a", "b"), rejects_path=tmp_path / "r.jsonl", on_stored=seen.extend)
    assert [(e.item_id, e.type) for e in seen] == [("a", EventType.click), ("b", EventType.click)]


def test_a_mapping_needs_an_event_type():
    with pytest.raises(ValueError, match="map the event type"):
        EventMapping(type_field=None)


def test_values_out_of_range_and_future_times_are_rejected_with_reasons(event_log, tmp_path):
    path = write(tmp_path / "events.csv", "\n".join([
        "user,item,kind,stars,when",
        "u1,m1,rating,4.5,1700000000",       # 2 ok
        "u1,m1,rating,1e308,1700000001",     # 3 far out of range
        "u1,m1,rating,99,1700000002",        # 4 out of range
        "u1,m1,rating,0.4,1700000003",       # 5 below the range
        "u1,m1,rating,nan,1700000004",       # 6 not finite
        "u1,m1,rating,inf,1700000005",       # 7 not finite
        "u1,m1,like,5,1700000006",           # 8 a like has no value
        "u2,m1,like,,4102444800",            # 9 year 2100
        "u2,m1,like,,1700000008",            # 10 ok
        "u1,m1,rating,5.0000001,1700000009", # 11 just above the range
    ]) + "\n")
    mapping = EventMapping(user_field="user", item_field="item", type_field="kind", value_field="stars",
                           timestamp_field="when", timestamp_format="epoch")
    report = load_events(path, mapping, event_log, catalog("m1"), rejects_path=tmp_path / "r.jsonl")
    assert (report.stored, report.rejected) == (2, 8)
    got = {line: r["reason"] for line, r in rejects_of(report).items()}
    assert got[3].startswith("rating 1e+308 is outside the rating range 0.5-5")
    assert got[4].startswith("rating 99 is outside the rating range 0.5-5")
    assert got[5].startswith("rating 0.4 is outside")
    assert "is not a finite number" in got[6] and "is not a finite number" in got[7]
    assert got[8] == "a like event has no value (only ratings do), got 5"
    assert got[9].startswith("timestamp 2100-01-01T00:00:00+00:00 is in the future")
    assert got[11].startswith("rating 5.0000001 is outside the rating range 0.5-5")  # was "rating 5 is outside"
    assert [e.value for e in event_log.user_events("u1")] == [4.5]


def test_ids_and_values_a_log_cannot_keep_faithfully_are_rejected_and_the_load_goes_on(event_log, tmp_path):
    """A NUL cut an id short on SQLite (two users became one), an id over 200 characters failed a PostgreSQL batch
    and everything after it, a list as a value was an internal error: each is now a reject with its reason."""
    rows = [
        {"user_id": "ok", "item_id": "1", "type": "rating", "value": 4, "ts": 1704067200},
        {"user_id": "lv", "item_id": "1", "type": "rating", "value": [4], "ts": 1704067201},
        {"user_id": {"a": 1}, "item_id": "1", "type": "like", "ts": 1704067202},
        {"user_id": "bob\u0000evil", "item_id": "1", "type": "like", "ts": 1704067203},
        {"user_id": "L" * 250, "item_id": "1", "type": "like", "ts": 1704067204},
        {"user_id": 12.0, "item_id": "1", "type": "like", "ts": 1704067205},  # a float column's id: user "12"
        {"user_id": "big", "item_id": "1", "type": "like", "ts": 1e40},
    ]
    path = write(tmp_path / "e.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    mapping = EventMapping(value_field="value", timestamp_field="ts", timestamp_format="epoch")
    report = load_events(path, mapping, event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl", batch_size=2)
    got = {line: r["reason"] for line, r in rejects_of(report).items()}
    assert (report.stored, report.rejected) == (2, 5), got
    assert "is not a finite number" in got[2]
    assert "is not an id or a name: it must be text or a number, not dict" in got[3]
    assert got[4] == "the user id holds a control character" and "longer than 200 characters" in got[5]
    assert got[7] == "timestamp 1e+40 is out of range (not a date in the years 1-9999)"
    assert event_log.count("bob") == 0 and event_log.count("12") == 1


def test_nan_ids_are_rejected_and_binary_ids_are_text(event_log, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = write(tmp_path / "e.jsonl", '{"user_id": NaN, "item_id": "1", "type": "like", "timestamp": 1704067200}\n'
                 '{"user_id": "u", "item_id": Infinity, "type": "like", "timestamp": 1704067200}\n')
    report = load_events(path, EventMapping(), event_log, catalog("1", "nan", "inf"), rejects_path=tmp_path / "r.jsonl")
    got = {line: r["reason"] for line, r in rejects_of(report).items()}
    assert got == {1: "nan is not an id or a name: it must be text or a finite number, not nan",
                   2: "inf is not an id or a name: it must be text or a finite number, not inf"}
    binary = tmp_path / "e.parquet"
    pq.write_table(pa.table({"user_id": pa.array([b"bob", b"\xff"], pa.binary()), "item_id": [b"1", b"1"],
                             "type": ["like", "like"], "timestamp": [1704067200, 1704067201]}), binary)
    report = load_events(binary, EventMapping(), event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl")
    assert (report.stored, report.rejected) == (1, 1)
    assert "is not an id or a name: it is bytes that are not UTF-8 text" in rejects_of(report)[2]["reason"]
    assert event_log.count("bob") == 1 and event_log.count() == 1


def test_ids_that_are_not_valid_unicode_reject_their_row_and_the_load_goes_on(event_log, tmp_path):
    """JSON's "\\ud800" is a lone surrogate, no Unicode text: it stopped the whole load with "'utf-8' codec can't
    encode character" (no file, no line), and nothing after its batch loaded."""
    rows = [
        {"id": "e1", "user_id": "ju\ud800x", "item_id": "1", "type": "like", "ts": 1704067200},
        {"id": "e2", "user_id": "ok", "item_id": "1\udcff", "type": "like", "ts": 1704067201},
        {"id": "\ud800", "user_id": "ok", "item_id": "1", "type": "like", "ts": 1704067202},
        {"id": "e4", "user_id": "ok", "item_id": "1", "type": "li\ud800ke", "ts": 1704067203},
        {"user_id": "ju\udfffx", "item_id": "1", "type": "like", "ts": 1704067204},  # no id: hashed, then rejected
        {"id": "e6", "user_id": "ok", "item_id": "1", "type": "like", "ts": 1704067205},
    ]
    path = write(tmp_path / "e.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    mapping = EventMapping(timestamp_field="ts", event_id_field="id")
    report = load_events(path, mapping, event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl")
    got = rejects_of(report)
    assert (report.stored, report.rejected) == (1, 5), got
    assert got[1] == {"line": 1, "event_id": "e1",
                      "reason": "the user id is not valid Unicode (a lone surrogate, U+D800)"}
    assert got[2]["reason"] == "the item id is not valid Unicode (a lone surrogate, U+DCFF)"
    assert got[3] == {"line": 3, "event_id": "\ud800",  # written as JSON's escape: the rejects file stays UTF-8
                      "reason": "the event id is not valid Unicode (a lone surrogate, U+D800)"}
    assert got[4]["reason"].startswith("unknown event type 'li\\ud800ke'")
    assert got[5]["reason"] == "the user id is not valid Unicode (a lone surrogate, U+DFFF)"
    assert [e.event_id for e in event_log.user_events("ok")] == ["e6"]


def test_a_parquet_timestamp_column_loads(event_log, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"user_id": ["a"], "item_id": ["1"], "type": ["like"],
                             "timestamp": pa.array([datetime(2024, 1, 1, 12)], pa.timestamp("us"))}), path)
    report = load_events(path, EventMapping(), event_log, catalog("1"), rejects_path=tmp_path / "r.jsonl")
    assert report.stored == 1
    assert event_log.user_events("a")[0].timestamp == datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
    for kind in (pa.date32(), pa.date64()):  # dates were rejected on every row: midnight UTC, as CSV's 2024-01-01
        pq.write_table(pa.table({"user_id": ["d"], "item_id": ["1"], "type": ["like"],
                                 "timestamp": pa.array([date(2024, 1, 2)], kind)}), path)
        for fmt in ("auto", "epoch"):
            report = load_events(path, EventMapping(timestamp_format=fmt), event_log, catalog("1"),
                                 rejects_path=tmp_path / "r.jsonl")
            assert report.rejected == 0
    assert [e.timestamp for e in event_log.user_events("d")] == [datetime(2024, 1, 2, tzinfo=timezone.utc)]


@pytest.mark.parametrize("suffix,body", [
    ("jsonl", '{"user_id": "u1", "item_id": "m1", "type": "like", "timestamp": 1700000000}\r\n'
              '{"user_id": "u1", "item_id": "m2", "type": "like", "timestamp": 1700000001}'),
    ("csv", "user_id,item_id,type,timestamp\r\nu1,m1,like,1700000000\r\nu1,m2,like,1700000001\r\n"),
])
def test_a_file_opened_by_a_byte_order_mark_loads_every_row(event_log, tmp_path, suffix, body):
    path = tmp_path / f"events.{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())  # as Excel and Notepad write UTF-8
    report = load_events(path, EventMapping(), event_log, catalog("m1", "m2"))
    assert (report.stored, report.rejected) == (2, 0)
