"""Unit prices finer than the currency's minor unit, stored and read back on every backend."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from moneyed import Money
from pypdf import PdfReader

from opencrm import CRM, User, ValidationError
from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade
from opencrm.storage.sqlalchemy.tables import invoice_lines, metadata, products

D = Decimal
ADMIN = User(id="admin", crm_admin=True)


def _text(money: Money) -> str:
    return format(money.amount, "f")


def _stored_prices(engine: sa.Engine, table: sa.Table) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.price).order_by(table.c.id)).scalars())


def _counts(engine: sa.Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (products, invoice_lines)
        )


def test_a_product_keeps_its_fine_price_exactly_as_entered(admin, engine):
    minute = admin.products.add("Call minute", "0.012500", sku="MIN")
    litre = admin.products.add("Diesel (litre)", "1.659")
    hour = admin.products.add("Hour", "80")
    assert _text(minute.price) == "0.012500"
    assert _text(litre.price) == "1.659"
    assert _text(hour.price) == "80.00"  # never fewer places than USD's two
    assert _stored_prices(engine, products) == ["0.012500", "1.659", "80.00"]
    read = {p.sku or p.title: _text(p.price) for p in admin.products.list()}
    assert read == {"MIN": "0.012500", "Diesel (litre)": "1.659", "Hour": "80.00"}
    assert admin.products.get(minute.id) == minute
    changed = admin.products.update(litre.id, price="1.723456")
    assert _text(admin.products.get(litre.id).price) == _text(changed.price) == "1.723456"


def test_a_seventh_decimal_is_refused_and_nothing_is_written(admin, engine):
    client = admin.contacts.add_company("Acme")
    admin.products.add("Minute", "0.0125")
    before = _counts(engine)
    with pytest.raises(ValidationError) as caught:
        admin.products.add("Too fine", "0.1234567")
    assert caught.value.errors == {"price": "has more than 6 decimal places"}
    with pytest.raises(ValidationError) as caught:
        admin.invoices.add(
            client=client,
            lines=[
                admin.invoices.line("Fine", price="0.123456"),
                admin.invoices.line("Too fine", price="0.0000001", quantity=3),
            ],
        )
    assert caught.value.errors == {"lines.1.price": "has more than 6 decimal places"}
    assert _counts(engine) == before
    assert admin.invoices.count() == 0
    product = admin.products.list()[0]
    with pytest.raises(ValidationError) as caught:
        admin.products.update(product.id, price="9.9999999")
    assert caught.value.errors == {"price": "has more than 6 decimal places"}
    assert _text(admin.products.get(product.id).price) == "0.0125"


@pytest.mark.parametrize(
    ("currency", "price", "quantity", "rounding", "subtotal"),
    [
        ("JPY", "0.5", "3", "ROUND_HALF_UP", "2"),  # 1.5 yen, half up
        ("JPY", "0.5", "5", "ROUND_HALF_EVEN", "2"),  # 2.5 yen, half to even
        ("KWD", "1.2345", "2", "ROUND_HALF_UP", "2.469"),
        ("KWD", "0.000125", "4", "ROUND_HALF_UP", "0.001"),  # 0.0005 dinar, half up
        ("USD", "0.012500", "1000", "ROUND_HALF_UP", "12.50"),
    ],
)
def test_lines_round_price_times_quantity_to_the_minor_unit(
    admin, engine, currency, price, quantity, rounding, subtotal
):
    client = admin.contacts.add_company("Acme")
    admin.invoices.set_rounding(rounding)
    inv = admin.invoices.add(
        client=client,
        currency=currency,
        exchange_rate="1",
        lines=[admin.invoices.line("Usage", price=price, quantity=quantity)],
    )
    (line,) = inv.lines
    assert (_text(line.price), _text(line.subtotal), _text(inv.total)) == (
        price,
        subtotal,
        subtotal,
    )
    assert admin.invoices.get(inv.id) == inv
    assert _text(admin.invoices.get(inv.id).lines[0].price) == price
    assert _stored_prices(engine, invoice_lines) == [price]


def test_a_product_line_copies_the_fine_price_and_conversion_rounds_as_before(admin):
    client = admin.contacts.add_company("Acme")
    vat = admin.taxes.add("VAT", "19")
    minute = admin.products.add("Call minute", "0.0123", taxes=[vat])
    inv = admin.invoices.add(
        client=client, lines=[admin.invoices.line(product=minute, quantity=1000, discount=10)]
    )
    (line,) = inv.lines
    assert _text(line.price) == "0.0123"
    # 12.30 - 1.23 = 11.07 net; 19 % of it 2.1033 -> 2.10 (half up)
    assert [_text(m) for m in (line.subtotal, line.discount_amount, line.net, line.total)] == [
        "12.30",
        "1.23",
        "11.07",
        "13.17",
    ]
    copy = admin.invoices.duplicate(inv.id)
    assert _text(copy.lines[0].price) == "0.0123"
    # Into another currency the product price is converted and rounded to the minor units,
    # as before (0.0123 / 1.25 = 0.00984 -> 0.01 EUR); a line price given stays as entered.
    admin.currencies.set_rate("EUR", "USD", "1.25")
    eur = admin.invoices.add(
        client=client,
        currency="EUR",
        lines=[
            admin.invoices.line(product=minute, quantity=1000),
            admin.invoices.line(product=minute, quantity=1000, price="0.00984"),
        ],
    )
    assert [_text(ln.price) for ln in eur.lines] == ["0.01", "0.00984"]
    assert [_text(ln.subtotal) for ln in eur.lines] == ["10.00", "9.84"]


def test_documents_show_the_unit_price_as_entered(admin):
    client = admin.contacts.add_company("Acme")
    inv = admin.invoices.add(
        client=client,
        language="en",
        lines=[
            admin.invoices.line("Call minutes", price="0.012500", quantity=1000),
            admin.invoices.line("Diesel", price="1.659", quantity="40.5"),
        ],
    )
    page = admin.invoices.html(inv.id)
    assert '<td class="num">$0.012500</td>' in page
    assert '<td class="num">$1.659</td>' in page
    assert '<td class="num">$12.50</td>' in page
    assert '<td class="num">$67.19</td>' in page  # 67.1895 half up
    text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(admin.invoices.pdf(inv.id))).pages
    )
    for shown in ("$0.012500", "$1.659", "$12.50", "$67.19", "$79.69"):
        assert shown in text


@pytest.mark.parametrize(
    ("language", "currency", "price", "shown"),
    [
        ("de", "USD", "0.125000", "0,125000\xa0$"),
        ("en", "JPY", "0.5", "¥0.5"),
        ("en", "JPY", "1200", "¥1,200"),
        ("en", "KWD", "1.2345", "KWD1.2345"),
        ("en", "KWD", "2", "KWD2.000"),
    ],
)
def test_the_html_unit_price_has_its_own_places_in_every_currency(
    admin, language, currency, price, shown
):
    client = admin.contacts.add_company("Acme")
    inv = admin.invoices.add(
        client=client,
        language=language,
        currency=currency,
        exchange_rate="1",
        lines=[admin.invoices.line("Usage", price=price)],
    )
    assert f'<td class="num">{shown}</td>' in admin.invoices.html(inv.id)


# --- migration 0010 from a database with prices in whole minor units ------------------------


@pytest.fixture
def old_database(backend, tmp_path, request):
    """An engine on an empty database of the given backend (a private schema on PostgreSQL)."""
    if backend == "sqlite":
        engine = create_engine_for(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    url = request.getfixturevalue("pg_database").url
    schema = f"opencrm_0010_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine_for(url, connect_args={"options": f"-csearch_path={schema},public"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _stamp() -> list[sa.Column[object]]:
    when = metadata.tables["contacts"].c.created_at.type  # UTC datetimes, as opencrm writes them
    return [
        sa.Column("created_by", sa.String),
        sa.Column("created_at", when),
        sa.Column("updated_by", sa.String),
        sa.Column("updated_at", when),
    ]


def _insert_0007_rows(engine: sa.Engine) -> None:
    """A product and invoices in JPY, USD and KWD as opencrm 0007 stored them."""
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    audit = {"created_by": "admin", "created_at": now, "updated_by": "admin", "updated_at": now}
    meta = sa.MetaData()
    contacts = sa.Table(
        "contacts", meta, sa.Column("id", sa.Integer), *_stamp(),
        sa.Column("kind", sa.String), sa.Column("company_name", sa.String),
        sa.Column("sort_name", sa.String), sa.Column("access", sa.String),
    )  # fmt: skip
    old_products = sa.Table(
        "products", meta, sa.Column("id", sa.Integer), *_stamp(),
        sa.Column("title", sa.String), sa.Column("price_minor", sa.BigInteger),
        sa.Column("currency", sa.String), sa.Column("track_inventory", sa.Boolean),
        sa.Column("stock_quantity", sa.String),
    )  # fmt: skip
    old_invoices = sa.Table(
        "invoices", meta, sa.Column("id", sa.Integer), *_stamp(),
        sa.Column("number", sa.String), sa.Column("status", sa.String),
        sa.Column("issue_date", sa.Date), sa.Column("due_date", sa.Date),
        sa.Column("client_id", sa.Integer), sa.Column("language", sa.String),
        sa.Column("currency", sa.String), sa.Column("exchange_rate", sa.String),
        sa.Column("rounding", sa.String), sa.Column("subtotal_minor", sa.BigInteger),
        sa.Column("total_minor", sa.BigInteger),
    )  # fmt: skip
    old_lines = sa.Table(
        "invoice_lines", meta, sa.Column("id", sa.Integer), sa.Column("invoice_id", sa.Integer),
        sa.Column("position", sa.Integer), sa.Column("product_id", sa.Integer),
        sa.Column("description", sa.String), sa.Column("quantity", sa.String),
        sa.Column("price_minor", sa.BigInteger), sa.Column("discount", sa.String),
        sa.Column("subtotal_minor", sa.BigInteger), sa.Column("discount_minor", sa.BigInteger),
        sa.Column("net_minor", sa.BigInteger), sa.Column("total_minor", sa.BigInteger),
    )  # fmt: skip
    day = dt.date(2026, 11, 30)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"id": 1, "kind": "company", "company_name": "Acme", "sort_name": "acme",
              "access": "read", **audit}],
        )  # fmt: skip
        conn.execute(
            old_products.insert(),
            [{"id": 1, "title": "Hour", "price_minor": 8050, "currency": "USD",
              "track_inventory": False, "stock_quantity": "0", **audit}],
        )  # fmt: skip
        # (id, currency, price in minor units, quantity, total in minor units)
        invoices = [
            (1, "JPY", 1230, "3", 3690),
            (2, "USD", 8050, "2", 16100),
            (3, "KWD", 1230, "2", 2460),
        ]
        conn.execute(
            old_invoices.insert(),
            [{"id": n, "number": f"INV-{n}", "status": "draft", "issue_date": day,
              "due_date": day, "client_id": 1, "language": "en", "currency": cur,
              "exchange_rate": "1", "rounding": "ROUND_HALF_UP", "subtotal_minor": total,
              "total_minor": total, **audit} for n, cur, _, _, total in invoices],
        )  # fmt: skip
        conn.execute(
            old_lines.insert(),
            [{"id": n, "invoice_id": n, "position": 0, "product_id": 1 if cur == "USD" else None,
              "description": "Work", "quantity": qty, "price_minor": minor,
              "discount": "0", "subtotal_minor": total, "discount_minor": 0,
              "net_minor": total, "total_minor": total} for n, cur, minor, qty, total in invoices],
        )  # fmt: skip


def test_upgrade_from_0007_copies_every_price_exactly(old_database):
    engine = old_database
    upgrade(engine, "0007")
    _insert_0007_rows(engine)
    upgrade(engine)
    assert _stored_prices(engine, products) == ["80.50"]
    assert _stored_prices(engine, invoice_lines) == ["1230", "80.50", "1.230"]
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in ("products", "invoice_lines"):
            columns = {c["name"]: c for c in inspector.get_columns(table)}
            assert "price_minor" not in columns
            assert columns["price"]["nullable"] is False
            assert isinstance(columns["price"]["type"], sa.String)
            assert columns["price"]["type"].length == 40
    crm = CRM(engine, load_entrypoints=False)
    s = crm.session(ADMIN)
    assert s.products.get(1).price == Money("80.50", "USD")
    prices = {i.currency: (_text(i.lines[0].price), _text(i.total)) for i in s.invoices.list()}
    assert prices == {
        "JPY": ("1230", "3690"),
        "USD": ("80.50", "161.00"),
        "KWD": ("1.230", "2.460"),
    }
    # The upgraded database takes fine prices like a new one.
    assert _text(s.products.update(1, price="80.123456").price) == "80.123456"


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    from opencrm.storage.sqlalchemy.engine import _alembic_config

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # table rebuilds, as opencrm's upgrade does them
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.execution_options(opencrm_write=True).begin():
                command.downgrade(_alembic_config(conn), revision)
        finally:
            if engine.dialect.name == "sqlite":
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def test_downgrade_to_0007_restores_minor_units_unless_a_price_is_finer(old_database):
    engine = old_database
    upgrade(engine)
    s = CRM(engine, load_entrypoints=False).session(ADMIN)
    client = s.contacts.add_company("Acme")
    hour = s.products.add("Hour", "80.50")
    s.invoices.add(client=client, lines=[s.invoices.line(product=hour, quantity=2)])
    _downgrade(engine, "0007")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT price_minor FROM products").scalars().all() == [8050]
        assert conn.exec_driver_sql("SELECT price_minor FROM invoice_lines").scalar_one() == 8050
    upgrade(engine)
    assert _stored_prices(engine, products) == ["80.50"]
    s.products.update(hour.id, price="80.505")
    with pytest.raises(RuntimeError, match=r"products row \d+ has the unit price 80.505 USD"):
        _downgrade(engine, "0007")
    assert _stored_prices(engine, products) == ["80.505"]  # nothing changed
