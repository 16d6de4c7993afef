"""Invoices, products, taxes and currencies over HTTP: exact amounts, statuses, documents,
sending, settings and who may do what."""

from __future__ import annotations

import io

from PIL import Image


def _client(api, **extra):  # type: ignore[no-untyped-def]
    body = {"name": "Acme GmbH", "email": "billing@acme.example", **extra}
    reply = api.post("/companies", json=body)
    assert reply.status == 201, reply.body
    return reply.json["id"]


def _tax(api, name="VAT", rate="19"):  # type: ignore[no-untyped-def]
    reply = api.as_("admin").post("/taxes", json={"name": name, "rate": rate})
    assert reply.status == 201, reply.body
    return reply.json


def _invoice(api, client, **extra):  # type: ignore[no-untyped-def]
    body = {
        "client": client,
        "lines": [{"description": "Consulting", "quantity": "2", "price": "50.00"}],
        **extra,
    }
    reply = api.post("/invoices", json=body)
    assert reply.status == 201, reply.body
    return reply.json


def _money(amount, currency="USD"):  # type: ignore[no-untyped-def]
    return {"amount": amount, "currency": currency}


# --- invoices -------------------------------------------------------------------------------


def test_two_line_invoice_with_a_tax_has_exact_totals(api) -> None:  # type: ignore[no-untyped-def]
    vat = _tax(api)
    client = _client(api)
    body = {
        "client": client,
        "issue_date": "2024-03-01",
        "due_in": "15_days",
        "po_number": "PO-7",
        "lines": [
            {"description": "Consulting", "quantity": "3", "price": "19.99", "taxes": ["VAT"]},
            # A JSON number is read exactly (never through a float).
            {"description": "Travel", "quantity": 1, "price": "10.05", "discount": 10.0},
        ],
    }
    reply = api.post("/invoices", json=body)
    assert reply.status == 201, reply.body
    inv = reply.json
    assert reply.headers["Location"] == f"/crm/invoices/{inv['id']}"
    assert (inv["number"], inv["status"], inv["client_id"]) == ("INV-0000001", "draft", client)
    assert (inv["issue_date"], inv["due_date"]) == ("2024-03-01", "2024-03-16")
    assert (inv["currency"], inv["exchange_rate"], inv["rounding"]) == ("USD", "1", "ROUND_HALF_UP")
    first, second = inv["lines"]
    assert first["taxes"] == [
        {"tax_id": vat["id"], "name": "VAT", "rate": "19", "amount": _money("11.39")}
    ]
    assert [first[k] for k in ("subtotal", "discount_amount", "net", "total")] == [
        _money("59.97"),
        _money("0.00"),
        _money("59.97"),
        _money("71.36"),
    ]
    assert [second[k] for k in ("subtotal", "discount_amount", "net", "total")] == [
        _money("10.05"),
        _money("1.01"),  # 1.005 rounded half up
        _money("9.04"),
        _money("9.04"),
    ]
    assert second["taxes"] == []
    assert inv["subtotal"] == _money("69.01")
    assert inv["tax_totals"] == [
        {"tax_id": vat["id"], "name": "VAT", "rate": "19", "amount": _money("11.39")}
    ]
    assert inv["tax_total"] == _money("11.39")
    assert inv["total"] == _money("80.40")
    got = api.get(f"/invoices/{inv['id']}")
    assert got.json == inv
    assert got.headers["ETag"] == reply.headers["ETag"]
    # A list page builds its invoices' lines when they are read: the same JSON.
    assert api.get("/invoices").json["items"] == [inv]
    assert api.get("/invoices", query={"status": "draft", "sort": "number"}).json["items"] == [inv]


def test_invoice_in_another_currency_takes_the_rate_given(api) -> None:  # type: ignore[no-untyped-def]
    client = _client(api)
    inv = _invoice(api, client, currency="eur", exchange_rate="1.0825", language="de")
    assert (inv["currency"], inv["exchange_rate"], inv["language"]) == ("EUR", "1.0825", "de")
    assert inv["total"] == _money("100.00", "EUR")
    missing = api.post(
        "/invoices",
        json={"client": client, "currency": "GBP", "lines": [{"description": "x", "price": "1"}]},
    )
    assert missing.status == 409
    assert missing.problem["code"] == "missing_exchange_rates"


def test_invoice_lines_from_a_product_take_its_price_and_taxes(api) -> None:  # type: ignore[no-untyped-def]
    vat = _tax(api)
    admin = api.as_("admin")
    product = admin.post(
        "/products", json={"title": "Support hour", "price": "80.00", "taxes": [vat["id"]]}
    ).json
    client = _client(api)
    inv = _invoice(
        api, client, lines=[{"product": product["id"], "quantity": "1.5", "discount": "0"}]
    )
    [line] = inv["lines"]
    assert (line["product_id"], line["quantity"], line["price"]) == (
        product["id"],
        "1.5",
        _money("80.00"),
    )
    assert inv["total"] == _money("142.80")  # 120.00 + 19 % VAT
    # A product on an invoice cannot be deleted, nor a tax in use.
    assert admin.delete(f"/products/{product['id']}").problem["code"] == "conflict"
    assert admin.delete(f"/taxes/{vat['id']}").status == 409


def test_validation_errors_name_the_fields_and_write_nothing(api) -> None:  # type: ignore[no-untyped-def]
    client = _client(api)
    shape = api.post(
        "/invoices",
        json={"client": client, "lines": [{"price": True, "colour": "red"}], "due_in": 1.5},
    )
    assert shape.fields() == {
        "lines[0].price": "must be a decimal number or a string holding one",
        "lines[0].colour": "unknown field",
        "due_in": "must be a whole number or a string",
    }
    service = api.post(
        "/invoices",
        json={
            "client": client,
            "lines": [{"description": "x", "price": "1.0000005", "quantity": "-1"}],
        },
    )
    assert set(service.fields()) == {"lines.0.price", "lines.0.quantity"}
    no_client = api.post(
        "/invoices", json={"client": 999999, "lines": [{"description": "x", "price": "1"}]}
    )
    assert set(no_client.fields()) == {"client"}
    assert api.get("/invoices", query={"count": "true"}).json["count"] == 0


def test_patch_changes_a_draft_and_a_stale_etag_is_412(api) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api))
    url = f"/invoices/{inv['id']}"
    tag = api.get(url).headers["ETag"]
    changed = api.patch(
        url,
        json={"notes": "Thanks!", "lines": [{"description": "Audit", "price": "7.50"}]},
        headers={"If-Match": tag},
    )
    assert changed.status == 200, changed.body
    assert changed.json["notes"] == "Thanks!"
    assert [ln["description"] for ln in changed.json["lines"]] == ["Audit"]
    assert changed.json["total"] == _money("7.50")
    stale = api.patch(url, json={"notes": "Again"}, headers={"If-Match": tag})
    assert stale.status == 412
    assert api.get(url).json["notes"] == "Thanks!"


def test_status_transitions_and_what_billed_invoices_refuse(api) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api))
    url = f"/invoices/{inv['id']}"
    paid = api.post(url + "/status", json={"status": "paid"})
    assert paid.status == 409
    problem = paid.problem
    assert (problem["code"], problem["current"], problem["requested"]) == (
        "invalid_transition",
        "draft",
        "paid",
    )
    billed = api.post(url + "/status", json={"status": "billed"})
    assert billed.status == 200
    assert billed.json["status"] == "billed"
    refused = api.delete(url)
    assert refused.status == 409
    assert refused.problem["code"] == "conflict"
    assert api.patch(url, json={"notes": "x"}).status == 409
    assert api.get(url).json["status"] == "billed"
    bad = api.post(url + "/status", json={"status": "lost"})
    assert bad.fields() == {"status": "must be one of draft, billed, paid, rejected"}
    assert api.post(url + "/status", json={"status": "rejected"}).json["status"] == "rejected"
    assert api.delete(url).status == 204
    assert api.get(url).status == 404


def test_batch_status_change_is_all_or_none(api) -> None:  # type: ignore[no-untyped-def]
    client = _client(api)
    a, b = _invoice(api, client), _invoice(api, client)
    assert api.post(f"/invoices/{a['id']}/status", json={"status": "billed"}).status == 200
    mixed = api.post("/invoices/status", json={"ids": [a["id"], b["id"]], "status": "paid"})
    assert mixed.problem["code"] == "invalid_transition"
    assert api.get(f"/invoices/{a['id']}").json["status"] == "billed"
    both = api.post("/invoices/status", json={"ids": [b["id"], a["id"]], "status": "billed"})
    assert both.status == 409  # a is billed already
    ok = api.post("/invoices/status", json={"ids": [b["id"]], "status": "billed"})
    assert ok.status == 200
    assert [(i["id"], i["status"]) for i in ok.json["items"]] == [(b["id"], "billed")]
    paid = api.post("/invoices/status", json={"ids": [a["id"], b["id"]], "status": "paid"})
    assert [i["status"] for i in paid.json["items"]] == ["paid", "paid"]
    # The batch path is not taken for an invoice id: other methods there are 405.
    patch = api.patch("/invoices/status", json={"ids": [a["id"]], "status": "paid"})
    assert (patch.status, patch.headers["Allow"]) == (405, "OPTIONS, POST")
    assert api.get("/invoices/status").problem["code"] == "method_not_allowed"
    assert api.get("/invoices/first").status == 404
    listed = api.get("/invoices", query={"status": "paid", "count": "true", "sort": "number"})
    assert [i["number"] for i in listed.json["items"]] == ["INV-0000001", "INV-0000002"]
    assert listed.json["count"] == 2


def test_another_users_invoice_for_a_private_client_is_404(api) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api))
    url = f"/invoices/{inv['id']}"
    bob = api.as_("bob")
    assert bob.get(url).status == 404
    assert bob.patch(url, json={"notes": "x"}).status == 404
    assert bob.delete(url).status == 404
    assert bob.post(url + "/status", json={"status": "billed"}).status == 404
    assert bob.post("/invoices/status", json={"ids": [inv["id"]], "status": "billed"}).status == 404
    assert bob.post(url + "/duplicate").status == 404
    assert bob.get(url + "/pdf").status == 404
    assert bob.get(url + "/html").status == 404
    assert bob.post(url + "/send", json={"to": ["x@example.com"]}).status == 404
    assert bob.get("/invoices", query={"count": "true"}).json == {
        "items": [],
        "next": None,
        "count": 0,
    }
    assert api.get(url).json == inv


def test_duplicate_is_a_new_draft_with_201_and_location(api) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api), notes="Net 15")
    api.post(f"/invoices/{inv['id']}/status", json={"status": "billed"})
    copy = api.post(f"/invoices/{inv['id']}/duplicate")
    assert copy.status == 201
    data = copy.json
    assert copy.headers["Location"] == f"/crm/invoices/{data['id']}"
    assert data["id"] != inv["id"]
    assert (data["number"], data["status"], data["notes"]) == ("INV-0000002", "draft", "Net 15")
    assert data["total"] == inv["total"]


def test_pdf_and_html_documents(api) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api), notes="<script>alert(1)</script>")
    pdf = api.get(f"/invoices/{inv['id']}/pdf")
    assert pdf.status == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith(
        'attachment; filename="invoice-INV-0000001.pdf"'
    )
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.body.startswith(b"%PDF")
    page = api.get(f"/invoices/{inv['id']}/html")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Disposition"].startswith(
        'inline; filename="invoice-INV-0000001.html"'
    )
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    text = page.body.decode("utf-8")
    assert "INV-0000001" in text
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_send_mails_the_pdf_and_answers_a_summary(api, web_crm) -> None:  # type: ignore[no-untyped-def]
    inv = _invoice(api, _client(api))
    sent = api.post(f"/invoices/{inv['id']}/send", json={"subject": "Your invoice"})
    assert sent.status == 200, sent.body
    data = sent.json
    [mail] = web_crm.notifier.take()
    assert data["to"] == ["billing@acme.example"]
    assert data["subject"] == "Your invoice"
    assert data["language"] == "en"
    assert data["text"] == mail.text
    assert data["attachments"] == [
        {
            "filename": "INV-0000001.pdf",
            "content_type": "application/pdf",
            "size": len(mail.attachments[0].data),
        }
    ]
    other = api.post(f"/invoices/{inv['id']}/send", json={"to": ["a@example.com", "b@example.com"]})
    assert other.json["to"] == ["a@example.com", "b@example.com"]
    bad = api.post(f"/invoices/{inv['id']}/send", json={"to": ["not an address"]})
    assert set(bad.fields()) == {"to"}
    assert len(web_crm.notifier.take()) == 1


# --- invoice settings -----------------------------------------------------------------------


def test_invoice_settings_are_for_admins(api) -> None:  # type: ignore[no-untyped-def]
    png = io.BytesIO()
    Image.new("RGB", (20, 10), "blue").save(png, "PNG")
    logo = {"file": ("logo.png", png.getvalue())}
    form = {"X-Requested-With": "test"}
    refused = [
        api.patch("/settings/invoice-numbering", json={"prefix": "R-"}),
        api.patch("/settings/organisation", json={"name": "Alice Ltd"}),
        api.put("/settings/organisation/logo", files=logo, headers=form),
        api.delete("/settings/organisation/logo"),
        api.put("/settings/invoice-terms", json={"terms": "Pay now"}),
        api.put("/settings/invoice-rounding", json={"rounding": "ROUND_DOWN"}),
        api.put("/settings/default-currency", json={"currency": "EUR"}),
        api.put("/exchange-rates/EUR/USD", json={"rate": "1.1"}),
        api.delete("/exchange-rates/EUR/USD"),
        api.post("/taxes", json={"name": "VAT", "rate": "19"}),
        api.post("/products", json={"title": "Hour", "price": "80"}),
    ]
    assert [r.status for r in refused] == [403] * len(refused)
    assert {r.problem["code"] for r in refused} == {"permission_denied"}
    assert api.get("/settings/invoice-numbering").json == {
        "automatic": True,
        "prefix": "INV-",
        "next_value": 1,
        "width": 7,
        "next_number": "INV-0000001",
    }
    assert api.get("/settings/organisation").json == {
        "name": "",
        "address": {"street": "", "city": "", "state": "", "zip": "", "country": ""},
        "logo_url": None,
    }
    assert api.get("/settings/invoice-terms").json == {"terms": ""}
    assert api.get("/settings/invoice-rounding").json == {"rounding": "ROUND_HALF_UP"}
    assert api.get("/settings/default-currency").json == {"currency": "USD"}


def test_admin_changes_numbering_terms_and_rounding(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    numbering = admin.patch("/settings/invoice-numbering", json={"prefix": "R-", "start": "0100"})
    assert numbering.status == 200, numbering.body
    assert numbering.json["next_number"] == "R-0100"
    bad = admin.patch("/settings/invoice-numbering", json={"start": "x1"})
    assert set(bad.fields()) == {"start"}
    terms = admin.put("/settings/invoice-terms", json={"terms": "Net 30"})
    assert terms.json == {"terms": "Net 30"}
    rounding = admin.put("/settings/invoice-rounding", json={"rounding": "ROUND_DOWN"})
    assert rounding.json == {"rounding": "ROUND_DOWN"}
    assert set(admin.put("/settings/invoice-rounding", json={"rounding": "up"}).fields()) == {
        "rounding"
    }
    inv = _invoice(
        api,
        _client(api),
        lines=[{"description": "Odd", "price": "0.01", "quantity": "0.5"}],
    )
    assert (inv["number"], inv["terms"], inv["rounding"]) == ("R-0100", "Net 30", "ROUND_DOWN")
    assert inv["total"] == _money("0.00")  # 0.005 rounded down


def test_organisation_name_address_and_logo(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    changed = admin.patch(
        "/settings/organisation",
        json={"name": "Seller AG", "address": {"city": "Berlin", "country": "DE"}},
    )
    assert changed.status == 200, changed.body
    assert changed.json == {
        "name": "Seller AG",
        "address": {"street": "", "city": "Berlin", "state": "", "zip": "", "country": "DE"},
        "logo_url": None,
    }
    assert api.get("/settings/organisation/logo").status == 404
    png = io.BytesIO()
    Image.new("RGB", (20, 10), "blue").save(png, "PNG")
    put = admin.put(
        "/settings/organisation/logo",
        files={"file": ("logo.png", png.getvalue())},
        headers={"X-Requested-With": "test"},
    )
    assert put.status == 200, put.body
    assert put.json["logo_url"] == "/crm/settings/organisation/logo"
    assert put.json["name"] == "Seller AG"
    got = api.get("/settings/organisation/logo")
    assert (got.status, got.headers["Content-Type"]) == (200, "image/png")
    with Image.open(io.BytesIO(got.body)) as stored:  # re-encoded on upload, same picture
        assert (stored.format, stored.size) == ("PNG", (20, 10))
    page = api.get(f"/invoices/{_invoice(api, _client(api))['id']}/html")
    assert "data:image/png;base64," in page.body.decode()
    assert "img-src data:" in page.headers["Content-Security-Policy"]
    text = admin.put(
        "/settings/organisation/logo",
        files={"file": ("logo.png", b"not an image")},
        headers={"X-Requested-With": "test"},
    )
    assert set(text.fields()) == {"logo"}
    assert admin.delete("/settings/organisation/logo").status == 204
    assert api.get("/settings/organisation").json["logo_url"] is None


# --- products and taxes ---------------------------------------------------------------------


def test_taxes_create_read_change_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    created = admin.post("/taxes", json={"name": "VAT", "rate": 19.5, "description": "Standard"})
    assert created.status == 201, created.body
    tax = created.json
    assert created.headers["Location"] == f"/crm/taxes/{tax['id']}"
    assert (tax["name"], tax["rate"], tax["description"]) == ("VAT", "19.5", "Standard")
    assert api.get(f"/taxes/{tax['id']}").json == tax
    assert admin.post("/taxes", json={"name": "VAT", "rate": "7"}).problem["code"] == "conflict"
    assert set(admin.post("/taxes", json={"name": "Big", "rate": "1001"}).fields()) == {"rate"}
    changed = admin.patch(f"/taxes/{tax['id']}", json={"rate": "19"})
    assert changed.json["rate"] == "19"
    assert [t["name"] for t in api.get("/taxes").json["items"]] == ["VAT"]
    assert api.patch(f"/taxes/{tax['id']}", json={"rate": "1"}).status == 403
    assert admin.delete(f"/taxes/{tax['id']}").status == 204
    assert api.get(f"/taxes/{tax['id']}").status == 404


def test_products_create_list_filter_change_delete(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    _tax(api)
    hour = admin.post(
        "/products",
        json={"title": "Support hour", "price": "80.00", "sku": "SUP-1", "taxes": ["VAT"]},
    )
    assert hour.status == 201, hour.body
    assert hour.headers["Location"] == f"/crm/products/{hour.json['id']}"
    assert hour.json["price"] == _money("80.00")
    assert len(hour.json["tax_ids"]) == 1
    box = admin.post(
        "/products",
        json={"title": "Box", "price": 12, "track_inventory": True, "stock_quantity": "3"},
    ).json
    assert (box["track_inventory"], box["stock_quantity"]) == (True, "3")
    titles = [p["title"] for p in api.get("/products").json["items"]]
    assert titles == ["Box", "Support hour"]
    found = api.get("/products", query={"text": "sup-1"}).json["items"]
    assert [p["title"] for p in found] == ["Support hour"]
    stocked = api.get("/products", query={"in_stock": "true"}).json["items"]
    assert [p["title"] for p in stocked] == ["Box"]
    bad = admin.post("/products", json={"title": "X", "price": "1.0000001"})
    assert set(bad.fields()) == {"price"}
    changed = admin.patch(f"/products/{box['id']}", json={"stock_quantity": "0"})
    assert changed.json["stock_quantity"] == "0"
    assert api.get("/products", query={"in_stock": "true"}).json["items"] == []
    assert api.delete(f"/products/{box['id']}").status == 403
    assert admin.delete(f"/products/{box['id']}").status == 204
    assert api.get(f"/products/{box['id']}").status == 404


# --- currencies -----------------------------------------------------------------------------


def test_currencies_rates_and_conversion(api) -> None:  # type: ignore[no-untyped-def]
    admin = api.as_("admin")
    items = api.get("/currencies").json["items"]
    assert items[0] == {"code": "AUD", "basic": True, "convertible": True, "minor_units": 2}
    jpy = next(c for c in items if c["code"] == "JPY")
    assert jpy["minor_units"] == 0
    rate = admin.put("/exchange-rates/eur/USD", json={"rate": "1.0825"})
    assert rate.status == 200, rate.body
    assert (rate.json["from_currency"], rate.json["to_currency"], rate.json["rate"]) == (
        "EUR",
        "USD",
        "1.0825",
    )
    assert [r["rate"] for r in api.get("/exchange-rates").json["items"]] == ["1.0825"]
    assert set(admin.put("/exchange-rates/EUR/EUR", json={"rate": "1"}).fields()) == {"to_currency"}
    converted = api.post(
        "/currencies/convert",
        json={"amounts": [_money("10.00", "EUR"), _money("5.41", "USD")], "to": "USD"},
    )
    assert converted.status == 200, converted.body
    assert converted.json == {"amounts": [_money("10.83"), _money("5.41")]}
    down = api.post(
        "/currencies/convert",
        json={"amounts": [_money("10.00", "EUR")], "to": "USD", "rounding": "ROUND_DOWN"},
    )
    assert down.json == {"amounts": [_money("10.82")]}
    back = api.post("/currencies/convert", json={"amounts": [_money("10.83")], "to": "EUR"})
    assert back.json == {"amounts": [_money("10.00", "EUR")]}
    missing = api.post(
        "/currencies/convert", json={"amounts": [_money("1.00", "GBP")], "to": "USD"}
    )
    assert missing.status == 409
    assert missing.problem["code"] == "missing_exchange_rates"
    bad = api.post("/currencies/convert", json={"amounts": [{"amount": "1"}], "to": "USD"})
    assert set(bad.fields()) == {"amounts[0]"}
    assert admin.put("/exchange-rates/EUR/USD", json={"rate": 0}).status == 204
    assert api.get("/exchange-rates").json == {"items": []}
    assert admin.put("/exchange-rates/EUR/USD", json={"rate": "2"}).status == 200
    assert admin.delete("/exchange-rates/EUR/USD").status == 204
    assert api.get("/exchange-rates").json == {"items": []}
    assert admin.put("/settings/default-currency", json={"currency": "eur"}).json == {
        "currency": "EUR"
    }
    assert set(admin.put("/settings/default-currency", json={"currency": "XXX"}).fields()) == {
        "currency"
    }
