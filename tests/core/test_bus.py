from brokercare.core.bus import Event, InProcessBus


def test_in_process_bus_delivers_to_every_group_and_survives_a_failing_handler():
    bus, seen = InProcessBus(), []

    def broken(_event):
        raise RuntimeError("boom")

    bus.subscribe("trade.executed", broken, group="broken")
    bus.subscribe("trade.executed", lambda e: seen.append(e.payload["symbol"]), group="cdp")
    bus.publish(Event("trade.executed", {"symbol": "600519.SH"}, customer_id=7))
    assert seen == ["600519.SH"]
    assert bus.failures[0][0] == "broken"


def test_event_round_trips_through_json():
    e = Event("message.received", {"text": "两融担保比例怎么算？"}, customer_id=42)
    assert Event.from_json(e.to_json()) == e
