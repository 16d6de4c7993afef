"""Unit prices finer than the currency's minor unit over HTTP: the string a client sends is
the string it reads back."""

from __future__ import annotations


def _money(amount, currency="USD"):  # type: ignore[no-untyped-def]
    return {"amount": amount, "currency": currency}


def test_a_fine_product_price_round_trips_as_the_same_string(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    created = admin.post("/products", json={"title": "Call minute", "price": "0.123456"})
    assert created.status == 201, created.body
    product = created.json
    assert product["price"] == _money("0.123456")
    assert api.get(f"/products/{product['id']}").json["price"] == _money("0.123456")
    assert [p["price"] for p in api.get("/products").json["items"]] == [_money("0.123456")]
    changed = admin.patch(f"/products/{product['id']}", json={"price": "0.125000"})
    assert changed.json["price"] == _money("0.125000")  # the scale as entered
    # A JSON number is read exactly as written, never through a float.
    raw = admin.post(
        "/products",
        data=b'{"title": "Litre", "price": 1.659000}',
        headers={"Content-Type": "application/json"},
    )
    assert raw.status == 201, raw.body
    assert raw.json["price"] == _money("1.659000")


def test_a_seventh_decimal_is_a_422_naming_the_field(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    bad = admin.post("/products", json={"title": "Too fine", "price": "0.1234567"})
    assert bad.fields() == {"price": "has more than 6 decimal places"}
    client = api.post("/companies", json={"name": "Acme"}).json["id"]
    bad_line = api.post(
        "/invoices",
        json={
            "client": client,
            "lines": [
                {"description": "Fine", "price": "0.000001"},
                {"description": "Too fine", "price": "0.0000001"},
            ],
        },
    )
    assert bad_line.fields() == {"lines.1.price": "has more than 6 decimal places"}
    assert api.get("/products").json["items"] == []
    assert api.get("/invoices", query={"count": "true"}).json["count"] == 0


def test_invoice_lines_keep_the_fine_price_and_round_the_amounts(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    product = admin.post("/products", json={"title": "Call minute", "price": "0.0125"}).json
    client = api.post("/companies", json={"name": "Acme"}).json["id"]
    reply = api.post(
        "/invoices",
        json={
            "client": client,
            "lines": [
                {"product": product["id"], "quantity": "1000"},
                {"description": "Diesel", "price": "1.659", "quantity": "40.5"},
            ],
        },
    )
    assert reply.status == 201, reply.body
    minutes, diesel = reply.json["lines"]
    assert (minutes["price"], minutes["total"]) == (_money("0.0125"), _money("12.50"))
    assert (diesel["price"], diesel["total"]) == (_money("1.659"), _money("67.19"))  # 67.1895
    assert reply.json["total"] == _money("79.69")
    again = api.get(f"/invoices/{reply.json['id']}").json
    assert [ln["price"] for ln in again["lines"]] == [_money("0.0125"), _money("1.659")]
    yen = api.post(
        "/invoices",
        json={
            "client": client,
            "currency": "JPY",
            "exchange_rate": "0.0067",
            "lines": [{"description": "Half yen", "price": "0.5", "quantity": "3"}],
        },
    ).json
    assert (yen["lines"][0]["price"], yen["total"]) == (_money("0.5", "JPY"), _money("2", "JPY"))
