"""Admin lists, tags and custom field definitions."""

from __future__ import annotations

import pytest

from opencrm import Conflict, NotFound, StageType, ValidationError


def titles(items):
    return [i.title for i in items]


def test_reference_defaults_are_seeded(admin):
    assert titles(admin.lists.items("contact_type")) == [
        "Client",
        "Supplier",
        "Partner",
        "Competitor",
    ]
    assert [(i.title, i.color) for i in admin.lists.items("temperature")] == [
        ("Cold", "#8a98d8"),
        ("Warm", "#ffd267"),
        ("Hot", "#df7895"),
    ]
    assert len(admin.lists.items("task_category")) == 12
    assert titles(admin.lists.items("task_category"))[:3] == ["Phone call", "Opportunity", "Demo"]
    history = admin.lists.items("history_category")
    assert [i.title for i in history if not i.system] == [
        "Note",
        "Email",
        "Phone call",
        "Appointment",
    ]
    assert [i.title for i in history if i.system] == [
        "Task closed",
        "Files uploaded",
        "Mail message",
    ]
    stages = admin.lists.stages()
    assert [(s.sort_order, s.probability, s.type) for s in stages] == [
        (1, 1, StageType.OPEN),
        (2, 2, StageType.OPEN),
        (3, 3, StageType.OPEN),
        (4, 20, StageType.OPEN),
        (5, 50, StageType.OPEN),
        (6, 75, StageType.OPEN),
        (7, 90, StageType.OPEN),
        (8, 100, StageType.WON),
        (9, 0, StageType.LOST),
    ]
    assert titles(admin.lists.tags()) == ["Customer", "Lead", "Staff", "Supplier"]


def test_everyone_reads_lists(alice):
    assert titles(alice.lists.items("contact_type"))[0] == "Client"


def test_add_update_and_delete_items(admin):
    item = admin.lists.add("contact_type", "Reseller", description="Sells on")
    assert (item.title, item.sort_order) == ("Reseller", 5)
    with pytest.raises(Conflict):
        admin.lists.add("contact_type", "reseller")
    renamed = admin.lists.update(item.id, title="Distributor", sort_order=0)
    assert (renamed.title, renamed.sort_order) == ("Distributor", 0)
    assert titles(admin.lists.items("contact_type"))[0] == "Distributor"
    admin.lists.delete(item.id)
    assert "Distributor" not in titles(admin.lists.items("contact_type"))
    with pytest.raises(NotFound):
        admin.lists.delete(item.id)


def test_temperature_needs_a_colour(admin):
    with pytest.raises(ValidationError) as info:
        admin.lists.add("temperature", "Boiling")
    assert "color" in info.value.errors
    assert admin.lists.add("temperature", "Boiling", color="#FF0000").color == "#ff0000"


def test_item_in_use_cannot_be_deleted_and_renaming_is_safe(admin):
    hot = next(i for i in admin.lists.items("temperature") if i.title == "Hot")
    c = admin.contacts.add_company("Hot Co", temperature=hot.id)
    with pytest.raises(Conflict):
        admin.lists.delete(hot.id)
    admin.lists.update(hot.id, title="Very hot")
    assert admin.contacts.get(c.id).temperature_id == hot.id
    admin.contacts.update(c.id, temperature=None)
    admin.lists.delete(hot.id)


def test_last_item_of_a_list_stays(admin):
    types = admin.lists.items("contact_type")
    for item in types[:-1]:
        admin.lists.delete(item.id)
    with pytest.raises(Conflict, match="last"):
        admin.lists.delete(types[-1].id)


def test_system_items_are_fixed(admin):
    closed = next(i for i in admin.lists.items("history_category") if i.system)
    with pytest.raises(Conflict):
        admin.lists.update(closed.id, title="Done")
    with pytest.raises(Conflict):
        admin.lists.delete(closed.id)


def test_task_category_delete_needs_a_target(admin):
    cats = admin.lists.items("task_category")
    # No task uses it yet, so it goes without a target.
    admin.lists.delete(cats[0].id)
    assert len(admin.lists.items("task_category")) == 11


def test_tags(admin, alice):
    p = alice.contacts.add_person("Tagged", tags={"brand new"})
    assert "brand new" in titles(admin.lists.tags())
    tag = next(t for t in admin.lists.tags() if t.title == "brand new")
    admin.lists.rename_tag(tag.id, "Brand New")
    assert alice.contacts.get(p.id).tags == {"Brand New"}
    with pytest.raises(Conflict):
        admin.lists.rename_tag(tag.id, "lead")
    assert admin.lists.delete_unused_tags() == 4  # the four seeded tags
    admin.lists.delete_tag(tag.id)
    assert alice.contacts.get(p.id).tags == frozenset()
    with pytest.raises(ValidationError):
        admin.lists.tags("invoice")


def test_custom_field_rules(admin):
    f = admin.fields.add("contact", "Segment", "select", {"choices": ["A", "B"]})
    assert dict(f.options) == {"choices": ["A", "B"]}
    with pytest.raises(Conflict):
        admin.fields.add("contact", "segment", "text")
    with pytest.raises(ValidationError):
        admin.fields.add("contact", "Bad", "select", {"choices": []})
    with pytest.raises(ValidationError):
        admin.fields.add("contact", "Bad", "colour")
    with pytest.raises(ValidationError):
        admin.fields.add("invoice", "Bad", "text")
    with pytest.raises(ValidationError):
        admin.fields.add("contact", "Wide", "text", {"size": 151})
    assert dict(admin.fields.add("contact", "Notes", "textarea").options) == {"rows": 2, "cols": 40}
    # Without values the type may change; with values it may not, and choices only grow.
    f = admin.fields.update(f.id, type="select", options={"choices": ["A", "C"]})
    admin.contacts.add_company("Valued", custom={f.id: "A"})
    with pytest.raises(Conflict):
        admin.fields.update(f.id, type="text", options={})
    with pytest.raises(ValidationError):
        admin.fields.update(f.id, options={"choices": ["A"]})
    grown = admin.fields.update(f.id, options={"choices": ["A", "C", "D"]}, label="Tier")
    assert (grown.label, list(grown.options["choices"])) == ("Tier", ["A", "C", "D"])
    admin.fields.delete(f.id)
    assert [x.label for x in admin.fields.list("contact")] == ["Notes"]


def test_heading_holds_no_value(admin):
    h = admin.fields.add("contact", "Billing", "heading")
    with pytest.raises(ValidationError):
        admin.contacts.add_company("H Co", custom={h.id: "x"})


def test_labels_are_unique_among_fields_shown_together(admin):
    admin.fields.add("contact", "Segment", "text")
    with pytest.raises(Conflict):
        admin.fields.add("company", "segment", "text")
    admin.fields.add("opportunity", "Segment", "text")  # never on the same record
    other = admin.fields.add("person", "Size", "text")
    with pytest.raises(Conflict):
        admin.fields.update(other.id, label="SEGMENT")
