"""The hostile-input corpus (issue 7), generated rather than committed: markup and script in
every free-text field, ``file:``/``http:`` references, template syntax, traversal ids, binary
junk, wrong JSON shapes and mixed encodings.

Every HTTP reference points at ``127.0.0.1:<port>``: the port of a loopback listener the tests
start, never any other address. ``python tests/hostile/corpus.py DIR [PORT]`` writes the files
for a look by hand.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# The free-text fields shown in a patient report (name and notes only there).
TEXT_FIELDS = ("patient_id", "name", "notes", "fracture_sites", "dxa_site")
VALID = {
    "age_years": 31,
    "bmi_kg_m2": 20.5,
    "mgso4_days": 12,
    "mgso4_total_g": 400,
    "yam_percent": 82,
    "fracture": "yes",
    "smoking": "never",
}
COLUMNS = [*TEXT_FIELDS, *VALID]
JINJA_EXPRESSION = "T1{{ 7*7 }}T2"  # rendered as template source it would read T149T2
JINJA_STATEMENT = "{% raw %}R{% endraw %}{% include 'base.html' %}"


def markup_payloads(port: int, secret: Path) -> dict[str, str]:
    """Name -> hostile text; ``secret`` is a local file whose content must never be embedded."""
    here = f"http://127.0.0.1:{port}"
    return {
        "img": f'<img src="{here}/img">',
        "attachment": '<link rel="attachment" href="file:///etc/hostname">',
        "attachment_secret": f'<a rel="attachment" href="{secret.as_uri()}">secret</a>',
        "script": "<script>document.title = 'pwned'</script>",
        "style_url": f'<p style="background: url({here}/style-attr)">styled</p>',
        "css_url": f"url({here}/bare-css-url)",
        "style_tag": f"<style>@import url({here}/import.css);</style>",
        "jinja_expression": JINJA_EXPRESSION,
        "jinja_statement": JINJA_STATEMENT,
        "svg": f'<svg xmlns="http://www.w3.org/2000/svg"><image href="{here}/svg"/></svg>',
        "iframe": f'<iframe src="{here}/iframe"></iframe>',
        "object": f'<object data="{here}/object"></object>',
        "meta_refresh": f'<meta http-equiv="refresh" content="0; url={here}/meta">',
        "entities": "&lt;b&gt; &#60;i&#62; &amp;amp; \"quoted\" 'single'",
        "comment": "--><!-- ]]> <![CDATA[ x ]]>",
    }


def markup_records(port: int, secret: Path, per_row: int = 3) -> list[dict[str, object]]:
    """Valid patients with ``per_row`` payloads (joined by " | ") in every free-text field;
    the id gets the payload names as a prefix so ids stay unique."""
    items = list(markup_payloads(port, secret).items())
    records = []
    for start in range(0, len(items), per_row):
        group = items[start : start + per_row]
        text = " | ".join(payload for _, payload in group)
        record: dict[str, object] = {field: text for field in TEXT_FIELDS}
        record["patient_id"] = "+".join(key for key, _ in group) + ":" + text
        record.update(VALID)
        records.append(record)
    return records


def to_csv(records: list[dict[str, object]], columns: list[str] | None = None) -> str:
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=columns or list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return stream.getvalue()


def to_xlsx(records: list[dict[str, object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    columns = list(records[0])
    sheet.append(columns)
    for record in records:
        sheet.append([record[c] for c in columns])
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


@dataclass(frozen=True)
class Entry:
    """One corpus file: its name, bytes, and what ``validate`` must say about it.

    ``valid`` True: every row is valid (exit 0). False: rows are invalid (exit 1, located
    problems). None: the whole file is refused (exit 1, ``Error: FILE:0:-: ...``).
    """

    name: str
    data: bytes
    valid: bool | None


def _row(**values: object) -> dict[str, object]:
    return {"patient_id": "p1", **VALID, **values}


def corpus(port: int, secret: Path) -> list[Entry]:
    """The whole corpus; every file is small (a few KB)."""
    records = markup_records(port, secret)
    japanese = [
        {**r, "name": "山田 花子 " + str(r["name"]), "notes": "腰痛。" + str(r["notes"])}
        for r in records[:4]
    ]
    mixed = (
        to_csv([_row(patient_id="u1", notes="naïve café")]).encode("utf-8")
        + to_csv([_row(patient_id="c1", notes="腰痛")]).split("\n", 1)[1].encode("cp932")
        + to_csv([_row(patient_id="l1", notes="résumé")]).split("\n", 1)[1].encode("latin-1")
    )
    bad_xml = io.BytesIO()
    with zipfile.ZipFile(bad_xml, "w") as archive:
        archive.writestr("[Content_Types].xml", "not xml at all")
    formula = [
        _row(
            patient_id='=HYPERLINK("http://127.0.0.1:1/","x")',
            notes="+cmd|' /C calc'!A0",
            name="@SUM(1+1)",
            fracture_sites="-2+3",
        )
    ]
    odd_text = [
        _row(
            patient_id="bidi",
            name="\u202egnp.exe\u202c",
            notes="zero\u200bwidth\ufeffbom\u00adsoft\r\ncrlf\ttab\x0bvt\x1bescape",
        ),
        _row(patient_id="long", notes="lorem ipsum " * 830),
    ]  # just under 10,000 chars
    return [
        Entry("markup.csv", to_csv(records).encode("utf-8"), True),
        Entry("markup.json", json.dumps(records, ensure_ascii=False).encode("utf-8"), True),
        Entry("markup.xlsx", to_xlsx(records), True),
        Entry("markup_bom.csv", b"\xef\xbb\xbf" + to_csv(records).encode("utf-8"), True),
        Entry("markup_cp932.csv", to_csv(japanese).encode("cp932"), True),
        Entry(
            "markup_semicolon.csv", to_csv(records).replace(",", ";").encode("utf-8"), None
        ),  # ";" inside the payloads: parsed, then refused or flagged, never a crash
        Entry("formula_injection.csv", to_csv(formula).encode("utf-8"), True),
        Entry("odd_text.json", json.dumps(odd_text).encode("utf-8"), True),
        Entry("mixed_encodings.csv", mixed, None),
        Entry("utf16.csv", to_csv(records).encode("utf-16"), None),
        Entry("binary_junk.csv", bytes(range(256)) * 4, None),
        Entry("binary_junk.json", b"[\x00\x01\xff\xfe" + bytes(range(200)), None),
        Entry("png_named.csv", b"\x89PNG\r\n\x1a\n" + bytes(64), None),
        Entry("zip_junk.xlsx", b"PK\x03\x04" + bytes(range(256)), None),
        Entry("zip_no_workbook.xlsx", _zip({"hello.txt": "hi"}), None),
        Entry("unterminated_quote.csv", b'patient_id,notes\n1,"never closed\n', None),
        Entry("empty.csv", b"", None),
        Entry("whitespace.csv", b" \n\t\n  \n", None),
        Entry("header_only.csv", ",".join(COLUMNS).encode() + b"\n", None),
        Entry("not_json.json", b"{'single': 'quotes'}", None),
        Entry("json_string.json", b'"just a string"', None),
        Entry("json_number.json", b"42", None),
        Entry("json_null.json", b"null", None),
        Entry("json_empty_list.json", b"[]", None),
        Entry("json_list_of_lists.json", b"[[1, 2], [3]]", None),
        Entry("json_patients_not_list.json", b'{"patients": {"a": 1}}', None),
        Entry("json_empty_object.json", b"{}", False),
        Entry(
            "json_nested_values.json",
            json.dumps({"patient_id": {"a": 1}, "age_years": [30], "notes": None}).encode(),
            False,
        ),
        Entry("json_mixed_items.json", json.dumps([1, "x", None, _row()]).encode(), False),
        Entry(
            "json_bad_infusions.json",
            json.dumps(
                [
                    _row(
                        patient_id="i1", mgso4_days=None, mgso4_total_g=None, infusions="every day"
                    ),
                    _row(
                        patient_id="i2",
                        mgso4_days=None,
                        mgso4_total_g=None,
                        infusions=[
                            {"start": 1, "end": "x", "rate_g_per_h": "9"},
                            None,
                            {
                                "start": "2020-01-02T00:00:00",
                                "end": "2020-01-01T00:00:00",
                                "rate_g_per_h": 1e308,
                            },
                        ],
                    ),
                ]
            ).encode(),
            False,
        ),
        Entry(
            "json_nan.json",
            b'[{"patient_id": "n", "age_years": NaN, "yam_percent": Infinity,'
            b' "bmi_kg_m2": 1e400, "mgso4_days": -1, "mgso4_total_g": 1,'
            b' "fracture": "maybe"}]',
            False,
        ),
        Entry(
            "json_duplicate_keys.json",
            b'{"patient_id": "d", "patient_id": "e", "Age_Years": 30, "age years": 31}',
            False,
        ),
        Entry(
            "bad_values.csv",
            to_csv(
                [
                    _row(
                        age_years="thirty",
                        yam_percent="1e999",
                        bmi_kg_m2="-0",
                        mgso4_days="3.5",
                        fracture="perhaps",
                        smoking="sometimes",
                    )
                ]
            ).encode(),
            False,
        ),
        Entry("bad_xml.xlsx", bad_xml.getvalue(), None),  # known bug, see test_hostile_inputs
        # openpyxl writes 1.7976931348623157e308 as "1.797693134862316e+308": inf on reading
        Entry("xlsx_overflow.xlsx", to_xlsx([_row(age_years=sys.float_info.max)]), False),
        Entry("deep_nesting.json", b"[" * 100_000 + b"]" * 100_000, None),  # known bug too
        *round_two(),
    ]


def round_two() -> list[Entry]:
    """Issue 16's small attacks: each must be a located error, a refusal or (True) harmless."""
    dated = [
        _row(patient_id="a", dxa_date="2020-01-01", delivery_date="2019-12-01"),
        _row(patient_id="b", dxa_date="2020-01-02T10:00:00+09:00", delivery_date="2019-12-02"),
    ]
    old_new = [
        _row(patient_id="a", dxa_date="1600-01-01", delivery_date="2019-12-01"),
        _row(patient_id="b", dxa_date="2020-01-01", delivery_date="2099-01-01"),
    ]
    semicolons = io.StringIO()
    writer = csv.DictWriter(semicolons, fieldnames=list(_row()), delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerow(_row(patient_id="s1", mgso4_total_g="1,500"))
    writer.writerow(_row(patient_id="s2", mgso4_total_g="1.500,5"))
    duplicate_yam = (
        b'{"patient_id": "d1", "age_years": 31, "bmi_kg_m2": 20.5, "mgso4_days": 12, '
        b'"mgso4_total_g": 400, "yam_percent": 95, "fracture": true, '
        b'"yam_percent": 60}'
    )
    numbers_as_ids = (
        b'[{"patient_id": NaN, "age_years": 31, "bmi_kg_m2": 20.5, "mgso4_days": '
        b'12, "mgso4_total_g": 400, "yam_percent": 82, "fracture": true}, '
        b'{"patient_id": 1e2, "age_years": 31, "bmi_kg_m2": 20.5, "mgso4_days": '
        b'12, "mgso4_total_g": 400, "yam_percent": 82, "fracture": true}]'
    )
    return [
        Entry(
            "id_cr_formula.csv",
            to_csv([_row(patient_id='a\r=HYPERLINK("http://127.0.0.1:1/","x")')]).encode(),
            False,
        ),
        Entry(
            "id_semicolon_formula.csv",
            to_csv(
                [_row(patient_id="x;=1+1", fracture_sites="T7;=1+1", notes="a;@SUM(1)")]
            ).encode(),
            True,
        ),
        Entry("json_duplicate_yam.json", duplicate_yam, False),
        Entry("json_numbers_as_ids.json", numbers_as_ids, False),
        Entry("partial_date.csv", to_csv([_row(dxa_date="2020-05")]).encode(), False),
        Entry("dates_1600_2099.csv", to_csv(old_new).encode(), False),
        Entry("mixed_time_zones.csv", to_csv(dated).encode(), False),
        Entry(
            "nfc_nfd_ids.json",
            json.dumps([_row(patient_id="Ren\u00e9e"), _row(patient_id="Rene\u0301e")]).encode(),
            False,
        ),
        Entry(
            "fullwidth_ids.csv",
            to_csv([_row(patient_id="A1"), _row(patient_id="Ａ１")]).encode(),
            False,
        ),
        Entry("cp1252_names.csv", to_csv([_row(name="Renée Françoise")]).encode("cp1252"), None),
        Entry("semicolon_thousands.csv", semicolons.getvalue().encode(), False),
        Entry("xlsx_formula_no_value.xlsx", to_xlsx([_row(yam_percent="=80+2")]), False),
        Entry("xlsx_long_id_number.xlsx", to_xlsx([_row(patient_id=1.2345678901234567e19)]), False),
    ]


KNOWN_BUGS: dict[str, str] = {}  # corpus entries that still fail, with the reason


def _zip(members: dict[str, str]) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return stream.getvalue()


def write_corpus(directory: Path, port: int, secret: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for entry in corpus(port, secret):
        paths[entry.name] = directory / entry.name
        paths[entry.name].write_bytes(entry.data)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    written = write_corpus(
        target, int(sys.argv[2]) if len(sys.argv) > 2 else 9, target / "secret.txt"
    )
    print("\n".join(str(p) for p in written.values()))  # noqa: T201


# --- issue 16: the second attack round ---------------------------------------------------------


def _xlsx_parts(sheet_xml: bytes | None = None, shared: bytes | None = None) -> bytes:
    """A minimal workbook whose sheet (and shared strings) XML is given as is."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["patient_id", "notes"])
    book.active.append(["p1", "text"])
    stream = io.BytesIO()
    book.save(stream)
    source = zipfile.ZipFile(io.BytesIO(stream.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml" and sheet_xml is not None:
                data = sheet_xml
            if shared is not None and info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdS" Type="http:'
                    b"//schemas.openxmlformats.org/officeDocument/2006/"
                    b'relationships/sharedStrings" Target="sharedStrings.xml"/>'
                    b"</Relationships>",
                )
            if shared is not None and info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" '
                    b'ContentType="application/vnd.openxmlformats-officedocument'
                    b'.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            archive.writestr(info.filename, data)
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
    return out.getvalue()


def _sheet(rows: bytes, dimension: str = "A1:B2") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main"><dimension ref="'
        + dimension.encode()
        + b'"/><sheetData>'
        + rows
        + b"</sheetData></worksheet>"
    )


def memory_attacks() -> list[Entry]:
    """Inputs that took 2-15 GB or minutes before issue 16; run them only under a memory
    limit (tests/test_hostile_inputs_2.py). ``valid``: as in :class:`Entry`."""
    rows = [{"patient_id": f"n{i}", **VALID, "notes": "ok"} for i in range(100_000)]
    rows[50_000]["notes"] = "x" * 9_999
    long_note = to_csv(rows).encode()
    junk = [{"patient_id": f"j{i}", **VALID, "yam_percent": 60 + i / 1000} for i in range(60_000)]
    junk[-1]["yam_percent"] = "9" * 9_999
    far_cell = _sheet(
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c></row>'
        b'<row r="20000"><c r="XFD20000"><v>1</v></c></row>',
        "A1:A1",
    )
    many_rows = _sheet(
        b"".join(
            b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(1, 1_100_001)
        ),
        "A1:A2",
    )
    huge_string = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        b"<si><t>" + b"A" * (200 * 2**20) + b"</t></si></sst>"
    )
    shared_cell = _sheet(
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>patient_id</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>notes</t></is></c></row><row r="2">'
        b'<c r="A2" t="inlineStr"><is><t>p1</t></is></c><c r="B2" t="s">'
        b"<v>0</v></c></row>"
    )
    long_string = huge_string.replace(b"A" * (200 * 2**20), b"A" * (40 * 2**20))
    return [
        Entry("long_note_100k.csv", long_note, True),
        Entry("long_junk_number.csv", to_csv(junk).encode(), False),
        Entry("cell_at_xfd20000.xlsx", _xlsx_parts(far_cell), None),
        Entry("rows_1100000.xlsx", _xlsx_parts(many_rows), None),
        Entry("shared_string_200mb.xlsx", _xlsx_parts(shared_cell, huge_string), None),
        Entry("shared_string_40mb.xlsx", _xlsx_parts(shared_cell, long_string), None),
    ]
