def test_create_then_get_round_trips_the_name(api, dialect):
    persona_id = api.create("personas", name="Ada")
    view = api.ok("personas", "get", {"persona_id": persona_id})
    assert [o["value"] for o in view["names"]["options"] if o["selected"]] == ["Ada"]
