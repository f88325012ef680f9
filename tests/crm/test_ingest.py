"""Imports of CRM exports: reading CSV/Excel/Parquet, validation with reasons, idempotent landing.

Every file here is written by hand in the test, a few rows long, so each expected
line number, reason and count can be checked by reading the file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from crm import store
from crm.errors import ImportFileError, ImportRejectedError, MappingError
from crm.ingest import import_file, read_table, resolve_mapping, validate

AS_OF = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
LATER = AS_OF + dt.timedelta(days=1)

# line 1 is the header; line numbers below are the file's own
# more than half of these rows are bad on purpose: the tests import it with max_rejects=1.0
CONTACTS_CSV = """\
ID,Фамилия,Имя,E-mail,Телефон,Дата рождения,Стадия,email_consent,sms_consent
C1,Иванов,Иван,ivan@mail.ru,8 (916) 123-45-67,01.02.1990,customer,да,нет
C2,Петрова,Анна,,+79161234568,31.02.1990,lead,,
C3,Smith,Jane,jane@example.com,,,vip,yes,
C4,Doe,John,,,,lead,,
C1,Иванов,Иван,ivan2@mail.ru,,,lead,,
C5,Сидоров,Пётр,petr@yandex.ru,916 123 4569,1985-05-06,,нет,да
C6,Smith,John,john@example.com,,,customer,,
"""


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _table(url: str, name: str, order: list[str]) -> pd.DataFrame:
    return store.read_frame(url, name).sort_values(order).reset_index(drop=True)


# --------------------------------------------------------------------------- reading (pure)
def test_csv_in_windows_1251_with_semicolons(tmp_path: Path) -> None:
    text = "Код;Фамилия;Имя;Телефон\nK1;Щукина;Ольга;+7 916 000-11-22\nK2;Ёлкин;Пётр;\n"
    raw = read_table(_write(tmp_path, "cp1251.csv", text, encoding="cp1251"))
    assert list(raw.columns) == ["line", "Код", "Фамилия", "Имя", "Телефон"]
    assert raw["Фамилия"].tolist() == ["Щукина", "Ёлкин"]
    assert raw["line"].tolist() == [2, 3]
    assert pd.isna(raw.loc[1, "Телефон"])


def test_utf8_csv_with_bom_and_blank_cells(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "bom.csv", "ID,Имя\nC1,  \nC2,Анна\n", encoding="utf-8-sig"))
    assert list(raw.columns) == ["line", "ID", "Имя"]  # no BOM glued to the first header
    assert pd.isna(raw.loc[0, "Имя"])  # a blank cell is missing, not "  "


def test_missing_file_and_unknown_type_are_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match=r"unsupported file type '\.json'"):
        read_table(_write(tmp_path, "x.json", "{}"))


def test_headers_map_themselves_and_explicit_mapping_wins() -> None:
    cols = ["ID", "Фамилия", "Mail", "Телефон"]
    assert resolve_mapping(cols, "contacts", {"Mail": "email"}) == {
        "Mail": "email",
        "ID": "external_id",
        "Фамилия": "last_name",
        "Телефон": "phone",
    }


def test_mapping_of_an_unknown_column_names_it(tmp_path: Path) -> None:
    raw = read_table(_write(tmp_path, "c.csv", CONTACTS_CSV))
    with pytest.raises(MappingError, match="Почта") as info:
        validate(raw, "contacts", mapping={"Почта": "email"})
    assert info.value.field == "Почта"
    with pytest.raises(MappingError, match="shoe_size") as info:
        validate(raw, "contacts", mapping={"Имя": "shoe_size"})
    assert info.value.field == "shoe_size"


def test_missing_required_field_says_how_to_map_it() -> None:
    raw = pd.DataFrame({"line": [2], "Фамилия": ["Иванов"], "E-mail": ["a@b.ru"]})
    with pytest.raises(MappingError, match="--map COLUMN=external_id"):
        validate(raw, "contacts")


def test_bad_rows_are_set_aside_with_line_and_reason(tmp_path: Path) -> None:
    checked = validate(read_table(_write(tmp_path, "c.csv", CONTACTS_CSV)), "contacts")
    bad = checked.bad.sort_values("line").reset_index(drop=True)
    assert bad[["line", "field", "reason"]].to_dict("records") == [
        {"line": 3, "field": "birth_date", "reason": "birth_date '31.02.1990' is not a valid date"},
        {
            "line": 4,
            "field": "lifecycle_stage",
            "reason": "lifecycle_stage 'vip' is not one of subscriber, lead, opportunity, "
            "customer, repeat_customer, churned",
        },
        {
            "line": 5,
            "field": "email",
            "reason": "no email and no phone: the contact cannot be reached",
        },
        {"line": 6, "field": "external_id", "reason": "external_id repeats line 2"},
    ]
    # the raw row is kept as it was in the file
    assert json.loads(bad.loc[0, "raw"])["Дата рождения"] == "31.02.1990"
    good = checked.good
    assert good["line"].tolist() == [2, 7, 8]
    assert good["external_id"].tolist() == ["C1", "C5", "C6"]
    assert good["birth_date"].tolist()[:2] == [dt.date(1990, 2, 1), dt.date(1985, 5, 6)]
    assert good["email_consent"].tolist()[:2] == [True, False]


def test_orders_are_validated_column_by_column() -> None:
    raw = pd.DataFrame(
        {
            "line": [2, 3, 4, 5],
            "external_id": ["O1", "O2", "O3", "O4"],
            "customer": ["C1", "C1", None, "C1"],
            "ordered_at": ["2024-03-01 10:00", "2024-03-02", "2024-03-03", "when?"],
            "amount": ["1 500,50", "-3", "10", "10"],
        }
    )
    checked = validate(raw, "orders")
    assert checked.good["external_id"].tolist() == ["O1"]
    assert checked.good.loc[0, "amount"] == 1500.5
    assert checked.good.loc[0, "ordered_at"] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    assert dict(zip(checked.bad["line"], checked.bad["reason"], strict=True)) == {
        3: "amount must be positive",
        4: "customer is required",
        5: "ordered_at 'when?' is not a valid date",
    }


def test_a_returned_amount_is_between_nothing_and_the_order_amount() -> None:
    raw = pd.DataFrame(
        {
            "line": [2, 3, 4, 5, 6],
            "external_id": ["O1", "O2", "O3", "O4", "O5"],
            "customer": "C1",
            "ordered_at": "2024-03-01",
            "amount": ["1000", "1000", "1000", "1000", "1000"],
            "Сумма возврата": ["300", None, "0", "-5", "1 200,50"],
        }
    )
    checked = validate(raw, "orders")
    assert checked.good["external_id"].tolist() == ["O1", "O2", "O3"]
    assert checked.good["returned_amount"].tolist()[::2] == [300.0, 0.0]
    assert pd.isna(checked.good.loc[1, "returned_amount"])  # blank: nothing returned
    assert dict(zip(checked.bad["line"], checked.bad["reason"], strict=True)) == {
        5: "returned_amount -5.00 is negative",
        6: "returned_amount 1,200.50 is more than the order's amount 1,000.00",
    }
    assert checked.bad["field"].tolist() == ["returned_amount", "returned_amount"]


# --------------------------------------------------------------------------- landing
def test_contacts_land_with_contact_points_and_consents(db_url: str, tmp_path: Path) -> None:
    summary = import_file(
        db_url, "contacts", _write(tmp_path, "c.csv", CONTACTS_CSV), as_of=AS_OF, max_rejects=1.0
    )
    assert (summary.total, summary.inserted, summary.updated, summary.unchanged) == (7, 3, 0, 0)
    assert summary.quarantined == 4
    assert summary.reasons["external_id repeats line 2"] == 1

    people = _table(db_url, "customers", ["external_id"])
    assert people["external_id"].tolist() == ["C1", "C5", "C6"]
    assert people["last_name"].tolist() == ["Иванов", "Сидоров", "Smith"]
    assert people["lifecycle_stage"].tolist() == ["customer", "lead", "customer"]  # blank -> lead
    assert people.loc[0, "birth_date"] == dt.date(1990, 2, 1)
    assert (people["created_at"] == AS_OF).all()

    ids = dict(zip(people["external_id"], people["customer_id"], strict=True))
    points = _table(db_url, "contact_points", ["customer_id", "kind"])
    assert list(zip(points["customer_id"], points["kind"], points["value"], strict=True)) == [
        (ids["C1"], "email", "ivan@mail.ru"),
        (ids["C1"], "phone", "8 (916) 123-45-67"),
        (ids["C5"], "email", "petr@yandex.ru"),
        (ids["C5"], "phone", "916 123 4569"),
        (ids["C6"], "email", "john@example.com"),
    ]
    assert points["normalized"].notna().all()

    consents = _table(db_url, "consents", ["customer_id", "channel"])
    assert list(
        zip(consents["customer_id"], consents["channel"], consents["granted"], strict=True)
    ) == [
        (ids["C1"], "email", True),
        (ids["C1"], "sms", False),
        (ids["C5"], "email", False),
        (ids["C5"], "sms", True),
    ]
    assert (consents["source"] == "import").all()

    quarantine = _table(db_url, "quarantine", ["line"])
    assert quarantine["line"].tolist() == [3, 4, 5, 6]
    assert quarantine["field"].tolist() == ["birth_date", "lifecycle_stage", "email", "external_id"]
    assert (quarantine["batch_id"] == summary.batch_id).all()

    batch = store.read_frame(db_url, "import_batches")
    assert batch[["rows_total", "rows_inserted", "rows_quarantined", "status"]].iloc[
        0
    ].tolist() == [
        7,
        3,
        4,
        "done",
    ]


def test_importing_the_same_file_twice_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "c.csv", CONTACTS_CSV)
    import_file(db_url, "contacts", path, as_of=AS_OF, max_rejects=1.0)
    tables = {
        "customers": ["external_id"],
        "contact_points": ["customer_id", "kind", "value"],
        "consents": ["customer_id", "channel"],
    }
    before = {name: _table(db_url, name, order) for name, order in tables.items()}
    quarantined = len(store.read_frame(db_url, "quarantine"))

    again = import_file(db_url, "contacts", path, as_of=LATER, max_rejects=1.0)
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 3, 4)
    for name, order in tables.items():
        pd.testing.assert_frame_equal(_table(db_url, name, order), before[name])
    assert len(store.read_frame(db_url, "quarantine")) == quarantined == 4
    assert len(store.read_frame(db_url, "import_batches")) == 2  # each run is recorded


def test_a_changed_export_counts_new_updated_and_unchanged(db_url: str, tmp_path: Path) -> None:
    import_file(
        db_url, "contacts", _write(tmp_path, "v1.csv", CONTACTS_CSV), as_of=AS_OF, max_rejects=1.0
    )
    v2 = (
        "ID,Фамилия,Имя,E-mail\n"
        "C1,Иванов,Иван,ivan@mail.ru\n"  # same name: unchanged
        "C5,Сидоров,Петр,petr@yandex.ru\n"  # first name changed: updated
        "C7,Новикова,Ольга,olga@mail.ru\n"  # new
    )
    summary = import_file(
        db_url, "contacts", _write(tmp_path, "v2.csv", v2), as_of=LATER, max_rejects=1.0
    )
    assert (summary.inserted, summary.updated, summary.unchanged, summary.quarantined) == (
        1,
        1,
        1,
        0,
    )
    people = _table(db_url, "customers", ["external_id"])
    assert people["external_id"].tolist() == ["C1", "C5", "C6", "C7"]
    assert people["first_name"].tolist() == ["Иван", "Петр", "John", "Ольга"]
    # C1 keeps the birth date the second file did not carry, and its first created_at
    assert people.loc[0, "birth_date"] == dt.date(1990, 2, 1)
    assert people.set_index("external_id")["created_at"].to_dict() == {
        "C1": AS_OF,
        "C5": AS_OF,
        "C6": AS_OF,
        "C7": LATER,
    }


def test_windows_1251_file_lands(db_url: str, tmp_path: Path) -> None:
    text = "Код;Фамилия;Имя;Телефон;Пол\nK1;Щукина;Ольга;+7 916 000-11-22;f\nK2;Ёлкин;Пётр;;m\n"
    path = _write(tmp_path, "cp1251.csv", text, encoding="cp1251")
    summary = import_file(db_url, "contacts", path, as_of=AS_OF)
    assert (summary.inserted, summary.quarantined) == (1, 1)
    people = store.read_frame(db_url, "customers")
    assert people[["external_id", "last_name", "first_name", "gender"]].values.tolist() == [
        ["K1", "Щукина", "Ольга", "f"]
    ]
    reason = store.read_frame(db_url, "quarantine", columns=["line", "reason"])
    assert reason.values.tolist() == [[3, "no email and no phone: the contact cannot be reached"]]


def test_excel_file_lands_with_its_date_cells(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    pd.DataFrame(
        {
            "External ID": ["X1", "X2"],
            "Surname": ["Kuznetsova", "Brown"],
            "Email": ["k@mail.ru", None],
            "Mobile": [None, "+44 7700 900123"],
            # real Excel date cells, as Excel stores a typed-in date
            "Birthday": [dt.datetime(1991, 7, 15), None],
        }
    ).to_excel(path, index=False)
    summary = import_file(db_url, "contacts", path, as_of=AS_OF)
    assert (summary.inserted, summary.quarantined) == (2, 0)
    people = _table(db_url, "customers", ["external_id"])
    assert people["last_name"].tolist() == ["Kuznetsova", "Brown"]
    assert people.loc[0, "birth_date"] == dt.date(1991, 7, 15)
    assert pd.isna(people.loc[1, "birth_date"])
    assert len(store.read_frame(db_url, "contact_points")) == 2


def test_parquet_file_lands(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pd.DataFrame(
        {
            "external_id": ["P1", "P2", "P3"],
            "first_name": ["Мария", "Tom", None],
            "email": ["maria@bk.ru", "tom@example.com", None],
            "birth_date": [dt.date(1975, 12, 31), None, None],
            "is_vip": [1, 0, 1],  # not a field of contacts: ignored
        }
    ).to_parquet(path, index=False)
    summary = import_file(db_url, "contacts", path, as_of=AS_OF)
    assert (summary.inserted, summary.quarantined) == (2, 1)
    people = _table(db_url, "customers", ["external_id"])
    assert people["first_name"].tolist() == ["Мария", "Tom"]
    assert people.loc[0, "birth_date"] == dt.date(1975, 12, 31)
    assert store.read_frame(db_url, "quarantine")["line"].tolist() == [4]


def test_orders_resolve_customer_refs_and_quarantine_unknown_ones(
    db_url: str, tmp_path: Path
) -> None:
    import_file(
        db_url, "contacts", _write(tmp_path, "c.csv", CONTACTS_CSV), as_of=AS_OF, max_rejects=1.0
    )
    orders_csv = (
        "external_id,Клиент,Дата заказа,Сумма,Статус\n"
        "O1,C1,2024-03-01 10:00,1500.50,paid\n"
        "O2,C5,02.03.2024,99,\n"
        "O3,C404,2024-03-03,10,paid\n"  # no such customer
        "O4,C1,2024-03-04,0,paid\n"  # not positive
    )
    path = _write(tmp_path, "orders.csv", orders_csv)
    summary = import_file(db_url, "orders", path, as_of=AS_OF, max_rejects=1.0)
    assert (summary.inserted, summary.updated, summary.unchanged, summary.quarantined) == (
        2,
        0,
        0,
        2,
    )
    ids = store.read_frame(db_url, "customers", columns=["external_id", "customer_id"])
    cid = dict(zip(ids["external_id"], ids["customer_id"], strict=True))
    orders = _table(db_url, "orders", ["external_id"])
    assert orders["customer_id"].tolist() == [cid["C1"], cid["C5"]]
    assert orders["amount"].tolist() == [1500.5, 99.0]
    assert orders["ordered_at"].tolist() == [
        pd.Timestamp("2024-03-01 10:00", tz="UTC"),
        pd.Timestamp("2024-03-02", tz="UTC"),  # day first: 2 March
    ]
    assert orders["status"].tolist() == ["paid", "paid"]  # blank -> paid
    assert orders["currency"].tolist() == ["RUB", "RUB"]
    quarantine = _table(db_url, "quarantine", ["line"])
    quarantine = quarantine[quarantine["entity"] == "orders"]
    assert dict(zip(quarantine["line"], quarantine["reason"], strict=True)) == {
        4: "customer 'C404' is not in the base; import customers first",
        5: "amount must be positive",
    }

    again = import_file(db_url, "orders", path, as_of=LATER, max_rejects=1.0)
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 2, 2)
    changed = orders_csv.replace("O2,C5,02.03.2024,99,", "O2,C5,02.03.2024,99,returned")
    third = import_file(
        db_url, "orders", _write(tmp_path, "orders2.csv", changed), as_of=LATER, max_rejects=1.0
    )
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    assert _table(db_url, "orders", ["external_id"])["status"].tolist() == ["paid", "returned"]


def test_a_partial_return_lands_on_the_order_and_a_bad_one_is_quarantined(
    db_url: str, tmp_path: Path
) -> None:
    import_file(
        db_url, "contacts", _write(tmp_path, "c.csv", CONTACTS_CSV), as_of=AS_OF, max_rejects=1.0
    )
    orders_csv = (
        "external_id,Клиент,Дата заказа,Сумма,Статус,Сумма возврата\n"
        "O1,C1,2024-03-01 10:00,1000,paid,\n"
        "O2,C5,2024-03-02,1000,paid,2000\n"  # more than the order
    )
    path = _write(tmp_path, "orders.csv", orders_csv)
    first = import_file(db_url, "orders", path, as_of=AS_OF, max_rejects=1.0)
    assert (first.inserted, first.quarantined) == (1, 1)
    quarantine = _table(db_url, "quarantine", ["line"])
    quarantine = quarantine[quarantine["entity"] == "orders"]
    assert dict(zip(quarantine["line"], quarantine["reason"], strict=True)) == {
        3: "returned_amount 2,000.00 is more than the order's amount 1,000.00"
    }
    # the customer brings back 300 roubles' worth of O1: the next export carries it
    later = orders_csv.replace(
        "O1,C1,2024-03-01 10:00,1000,paid,", "O1,C1,2024-03-01 10:00,1000,paid,300"
    )
    second = import_file(
        db_url, "orders", _write(tmp_path, "o2.csv", later), as_of=LATER, max_rejects=1.0
    )
    assert (second.inserted, second.updated, second.quarantined) == (0, 1, 1)
    orders = _table(db_url, "orders", ["external_id"])
    assert orders[["status", "returned_amount"]].values.tolist() == [["paid", 300.0]]
    again = import_file(
        db_url, "orders", _write(tmp_path, "o3.csv", later), as_of=LATER, max_rejects=1.0
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


# --------------------------------------------------------------------------- D9: dedup on entry
KNOWN_CSV = """\
ID,Фамилия,Имя,Отчество,E-mail,Телефон,Дата рождения
K1,Семёнов,Пётр,Ильич,petr.semenov@mail.ru,8 (916) 555-12-34,03.04.1980
"""

# X1: the same Пётр Семёнов under another system's id, upper case, phone written otherwise;
# N1 and N2: one new person twice in the file (a typo in the surname, the same phone);
# N3: somebody else
NEW_CSV = """\
ID,Фамилия,Имя,Отчество,E-mail,Телефон,Дата рождения
X1,СЕМЁНОВ,пётр,ильич,,+7 916 5551234,03.04.1980
N1,Кузнецова,Ольга,Андреевна,olga.k@yandex.ru,+79035550001,12.12.1991
N2,Кузнецова,Ольга,Андреевна,o.kuznetsova@gmail.com,8 903 555 00 01,12.12.1991
N3,Smith,Jane,,jane.smith@example.com,,
"""


def test_import_matches_known_people_and_file_duplicates(db_url: str, tmp_path: Path) -> None:
    import_file(db_url, "contacts", _write(tmp_path, "known.csv", KNOWN_CSV), as_of=AS_OF)
    path = _write(tmp_path, "new.csv", NEW_CSV)
    summary = import_file(db_url, "contacts", path, as_of=LATER)
    # X1 is Пётр (already known), N2 is N1: only N1 and N3 become new customers
    assert summary.inserted == 2 and summary.matched_existing == 2
    batches = store.read_frame(db_url, "import_batches").sort_values("batch_id")
    assert batches["rows_matched"].tolist() == [0, 2]
    people = _table(db_url, "customers", ["external_id"])
    assert people["external_id"].tolist() == ["K1", "N1", "N3"]
    ids = dict(zip(people["external_id"], people["customer_id"], strict=True))
    points = _table(db_url, "contact_points", ["customer_id", "kind", "value"])
    by_person = points.groupby("customer_id")["normalized"].apply(set).to_dict()
    # Пётр gets the new spelling of his phone; N2's second email lands on N1
    assert by_person[ids["K1"]] >= {"petr.semenov@mail.ru", "+79165551234"}
    assert {"olga.k@yandex.ru", "o.kuznetsova@gmail.com", "+79035550001"} <= by_person[ids["N1"]]
    # names were normalised before landing: no upper-case surname, no lower-case first name
    assert people.set_index("external_id").loc["N1", "first_name"] == "Ольга"

    before = {
        name: _table(db_url, name, order)
        for name, order in (
            ("customers", ["external_id"]),
            ("contact_points", ["customer_id", "kind", "value"]),
        )
    }
    again = import_file(db_url, "contacts", path, as_of=LATER + dt.timedelta(days=1))
    assert again.inserted == 0 and again.matched_existing == 2
    for name, frame in before.items():
        order = ["external_id"] if name == "customers" else ["customer_id", "kind", "value"]
        pd.testing.assert_frame_equal(_table(db_url, name, order), frame)


def test_import_normalises_names_before_they_land(db_url: str, tmp_path: Path) -> None:
    csv = "ID,Фамилия,Имя,Отчество,E-mail\nR1,ИВАНОВА,мария,петровна,m.ivanova@mail.ru\n"
    import_file(db_url, "contacts", _write(tmp_path, "r.csv", csv), as_of=AS_OF)
    row = store.read_frame(db_url, "customers").iloc[0]
    assert (row["last_name"], row["first_name"], row["middle_name"]) == (
        "Иванова",
        "Мария",
        "Петровна",
    )
    assert row["gender"] == "f"  # from the patronymic


def test_a_matched_person_gets_new_points_as_secondary(db_url: str, tmp_path: Path) -> None:
    import_file(db_url, "contacts", _write(tmp_path, "known.csv", KNOWN_CSV), as_of=AS_OF)
    import_file(db_url, "contacts", _write(tmp_path, "new.csv", NEW_CSV), as_of=LATER)
    # K1 again with two more addresses: an update of a known person
    more = "ID,Фамилия,Имя,E-mail\nK1,Семёнов,Пётр,p.semenov@yandex.ru\n"
    import_file(db_url, "contacts", _write(tmp_path, "more.csv", more), as_of=LATER)
    points = store.read_frame(db_url, "contact_points")
    primaries = points[points["is_primary"].astype(bool)].groupby(["customer_id", "kind"]).size()
    assert (primaries == 1).all(), primaries  # at most one primary point per channel
    people = _table(db_url, "customers", ["external_id"])
    ids = dict(zip(people["external_id"], people["customer_id"], strict=True))
    k1 = points[points["customer_id"] == ids["K1"]].set_index("value")["is_primary"]
    assert k1.astype(bool).to_dict() == {
        "petr.semenov@mail.ru": True,
        "8 (916) 555-12-34": True,
        "+7 916 5551234": False,  # X1's spelling of the same phone, matched to K1
        "p.semenov@yandex.ru": False,
    }
    n1 = points[points["customer_id"] == ids["N1"]].set_index("value")["is_primary"]
    assert n1.astype(bool).to_dict() == {
        "olga.k@yandex.ru": True,
        "+79035550001": True,
        "o.kuznetsova@gmail.com": False,  # N2's points: the same Ольга
        "8 903 555 00 01": False,
    }


# --------------------------------------------------------------------------- ragged, messy input
def _messy_csv() -> bytes:
    """A bilingual export as a CRM, Excel and a text editor leave it (line numbers below)."""
    utf8 = [
        "ID;Фамилия;Имя;E-mail;Телефон;Дата рождения;Город",  # 1
        "M1;Иванова;Мария;maria.ivanova@mail.ru;+7 916 100-00-01;01.02.1990;Москва",  # 2
        "M2;Smith;Jane;jane.smith@example.com;;1985-05-06;London",  # 3
        "M3;Петров;Пётр;petr@yandex.ru;;;Казань;лишнее;ещё",  # 4: two fields too many
        "M4;Short;Row",  # 5: too few
        'M5;"Орлов;Олег;oleg@mail.ru;;;Тверь',  # 6: a quote never closed
    ]
    cp1251 = "M6;Соколова;Анна;anna.sokolova@mail.ru;;;Самара"  # 7: saved by another program
    rest = [
        "M7;Null\x00Byte;Nick;nick@example.com;;;",  # 8: a stray NUL
        ";;;;;;",  # 9: every cell empty
        "M8;Компания;Отдел продаж;info@romashka.ru;+7 495 100-00-08;;Москва",  # 10: role
        "M9;Temp;Tom;tom@mailinator.com;;;",  # 11: disposable
        "M1;Иванова;Мария;maria.ivanova@mail.ru;+7 916 100-00-01;01.02.1990;Москва",  # 12: dup
        "M10;Кузнецов;Иван;ivan.k@gmail.com;;31.02.1990;Пермь",  # 13: impossible date
        'M11;"Ив"анов;Иван;ivanov@mail.ru;;;',  # 14: a quote in the middle of a field
        "M12;Brown;Bob;bob.brown@gmail.com;;;Leeds",  # 15: free mail
        "M13;Волкова;Ольга;olga.volkova@mail.ru;8 916 100 00 13;;Сочи",  # 16
        '"M14";"Новиков";"Денис";"d.novikov@mail.ru";;;"Омск"',  # 17: quoted cells
        "M15;Lee;Ann;ann.lee@example.com;+44 20 7946 0015;;",  # 18
        "M16;Морозов;Игорь;igor@morozov.ru;;;",  # 19
        "",  # a blank line is no row at all
        "M17;Фёдорова;Вера;vera.f@mail.ru;;;Уфа",  # 21
    ]
    text = "\r\n".join(utf8).encode("utf-8") + b"\r\n" + cp1251.encode("cp1251") + b"\r\n"
    return text + "\r\n".join(rest).encode("utf-8") + b"\r\n"


MESSY_BAD = {
    4: "9 fields, the header has 7",
    5: "3 fields, the header has 7",
    6: "unclosed quote",
    8: "the line contains a NUL character",
    9: "empty row",
    12: "external_id repeats line 2",
    13: "birth_date '31.02.1990' is not a valid date",
}


def test_a_messy_bilingual_csv_lands_every_good_row_and_quarantines_every_bad_one(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "messy.csv"
    path.write_bytes(_messy_csv())
    summary = import_file(db_url, "contacts", path, as_of=AS_OF)
    quarantine = _table(db_url, "quarantine", ["line"]).set_index("line")["reason"].to_dict()
    assert quarantine.pop(14).startswith("bad quoting")
    assert quarantine == MESSY_BAD
    assert summary.total == 19 and summary.quarantined == 8
    people = _table(db_url, "customers", ["external_id"])
    landed = set(people["external_id"])
    assert landed == {f"M{i}" for i in (1, 2, 6, 8, 9, 12, 13, 14, 15, 16, 17)}
    # the Windows-1251 line reads as Cyrillic, the quoted cells lose their quotes
    by_id = people.set_index("external_id")
    assert by_id.loc["M6", "last_name"] == "Соколова" and by_id.loc["M14", "city"] == "Омск"
    # hygiene's flags are stored with the address and reported
    points = store.read_frame(db_url, "contact_points")
    emails = points[points["kind"] == "email"].set_index("value")
    assert bool(emails.loc["info@romashka.ru", "is_role"])
    assert bool(emails.loc["tom@mailinator.com", "is_disposable"])
    assert bool(emails.loc["bob.brown@gmail.com", "is_free"])
    assert not bool(emails.loc["igor@morozov.ru", "is_free"])
    assert summary.email_flags["role"] == 1 and summary.email_flags["disposable"] == 1
    # importing the same file again changes nothing
    tables = {
        "customers": ["external_id"],
        "contact_points": ["customer_id", "kind", "value"],
        "quarantine": ["line"],
    }
    before = {name: _table(db_url, name, order) for name, order in tables.items()}
    again = import_file(db_url, "contacts", path, as_of=LATER)
    assert (again.inserted, again.quarantined) == (0, 8)
    for name, order in tables.items():
        after = _table(db_url, name, order)
        if name == "quarantine":  # the second batch owns the same rows now
            after, expected = after.drop(columns="batch_id"), before[name].drop(columns="batch_id")
        else:
            expected = before[name]
        pd.testing.assert_frame_equal(after, expected)


def test_a_file_whose_rows_are_all_quarantined_fails_with_the_count(
    db_url: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, "wrong.csv", "ID,Имя\nA1,Анна\nA2,Борис\nA3,\n")
    with pytest.raises(ImportRejectedError, match="3 of 3 rows quarantined") as info:
        import_file(db_url, "contacts", path, as_of=AS_OF)
    assert info.value.quarantined == 3 and info.value.total == 3
    assert store.read_frame(db_url, "customers").empty  # nothing landed
    batch = store.read_frame(db_url, "import_batches")
    assert batch[["rows_quarantined", "status"]].iloc[0].tolist() == [3, "rejected"]
    # more than the share given: refused too; within it: lands
    half = _write(tmp_path, "half.csv", "ID,Имя,E-mail\nB1,Анна,a@mail.ru\nB2,Борис,\nB3,Вера,\n")
    with pytest.raises(ImportRejectedError, match="2 of 3"):
        import_file(db_url, "contacts", half, as_of=AS_OF, max_rejects=0.5)
    assert import_file(db_url, "contacts", half, as_of=AS_OF, max_rejects=0.7).inserted == 1


def test_a_file_that_is_not_text_is_refused_as_such(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    with pytest.raises(ImportFileError, match="is not a text file in a supported encoding"):
        read_table(path)
