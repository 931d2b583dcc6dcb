"""Events: dockerd's shape, container transitions, filters, the log and the live stream."""

from __future__ import annotations

import json
import threading

import pytest

from vessel.api.events import EventBus, check_filters, make_event, matches, stream, transitions
from vessel.api.exitwatch import ExitWatch
from vessel.engine.db import ContainerRecord
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit


def rec(status: str, **kw) -> ContainerRecord:
    base = dict(id="ab" * 32, name="web", image="busybox", image_id="sha256:x", created=1.0,
                options={"labels": {"tier": "front"}}, status=status, exit_code=kw.pop("exit_code", None))
    base.update(kw)
    return ContainerRecord(**base)


def test_event_shape_for_containers_and_others():
    e = make_event("container", "start", "abc", {"image": "busybox", "name": "web"}, now_ns=1_700_000_000_123)
    assert e["status"] == "start" and e["id"] == "abc" and e["from"] == "busybox"
    assert e["Actor"] == {"ID": "abc", "Attributes": {"image": "busybox", "name": "web"}}
    assert (e["time"], e["timeNano"], e["scope"]) == (1700, 1_700_000_000_123, "local")
    v = make_event("volume", "create", "v1", {"driver": "local"})
    assert "status" not in v and v["Type"] == "volume"


@pytest.mark.parametrize("before,after,expected", [
    (None, "created", ["create"]), (None, "running", ["create", "start"]), ("created", "running", ["start"]),
    ("running", "exited", ["die"]), ("running", "paused", ["pause"]), ("paused", "running", ["unpause"]),
    ("exited", "running", ["start"]), ("running", "running", []), ("paused", "exited", ["die"]),
    (None, "exited", ["create"]), ("created", "paused", ["start", "pause"]),
])
def test_transitions(before, after, expected):
    assert transitions(before, after) == expected


def test_filters_on_type_action_container_and_labels():
    e = make_event("container", "die", "abcdef", {"image": "busybox", "name": "web", "exitCode": "3", "tier": "x"})
    assert matches(e, {"type": ["container"], "event": ["die"], "container": ["web"]})
    assert matches(e, {"container": ["abc"], "image": ["busybox"], "label": ["tier=x"]})
    assert not matches(e, {"type": ["image"]}) and not matches(e, {"event": ["start", "stop"]})
    exec_event = make_event("container", "exec_start: sh -c x", "abcdef", {})
    assert matches(exec_event, {"event": ["exec_start"]})
    check_filters({"type": ["container"], "event": ["die"]})
    with pytest.raises(InvalidArgument):
        check_filters({"colour": ["red"]})
    with pytest.raises(InvalidArgument):
        check_filters({"type": ["spaceship"]})


def test_bus_observes_changes_once_and_records_them(tmp_path):
    bus = EventBus(tmp_path)
    bus.observe(rec("created"))
    bus.observe(rec("running"))
    bus.observe(rec("running"))  # nothing new
    bus.observe(rec("exited", exit_code=3))
    bus.observe_gone("ab" * 32)
    bus.observe_gone("ab" * 32)  # already gone
    actions = [e["Action"] for e in bus.history(None, None)]
    assert actions == ["create", "start", "die", "destroy"]
    die = bus.history(None, None)[2]
    assert die["Actor"]["Attributes"]["exitCode"] == "3" and die["Actor"]["Attributes"]["tier"] == "front"
    lines = (tmp_path / "events.log").read_text().splitlines()
    assert [json.loads(l)["Action"] for l in lines] == actions


def test_history_respects_since_and_until(tmp_path):
    bus = EventBus(tmp_path)
    for action in ("a", "b", "c"):
        bus.publish("daemon", action, "d")
    events = bus.history(None, None)
    t1 = events[1]["timeNano"] / 1e9
    assert [e["Action"] for e in bus.history(t1, None)] == ["b", "c"]
    assert [e["Action"] for e in bus.history(None, t1)] == ["a", "b"]


def test_stream_gives_history_then_live_events_until_the_end_time(tmp_path):
    bus = EventBus(tmp_path)
    bus.publish("volume", "create", "old")
    since = bus.history(None, None)[0]["timeNano"] / 1e9
    until = since + 3600
    clock = {"now": since}
    gen = stream(bus, {"type": ["volume"]}, since, until, lambda: False, clock=lambda: clock["now"])
    assert next(gen)["Actor"]["ID"] == "old"
    assert next(gen) is None  # head goes out
    bus.publish("network", "create", "skipped-by-filter")
    bus.publish("volume", "destroy", "new")
    assert next(gen)["Actor"]["ID"] == "new"
    clock["now"] = until + 1
    with pytest.raises(StopIteration):
        while True:
            assert next(gen) is None
    assert bus.subscribers == []


def test_stream_ends_when_the_client_is_gone(tmp_path):
    bus = EventBus(tmp_path)
    gen = stream(bus, {}, None, None, lambda: True)
    assert next(gen) is None
    assert list(gen) == [None]
    assert bus.subscribers == []


def test_exit_watch_poke_wakes_a_waiter(tmp_path):
    watch = ExitWatch(tmp_path / "exits")
    seen = watch.generation
    woke = []
    t = threading.Thread(target=lambda: woke.append(watch.wait_change(seen, 10)))
    t.start()
    watch.poke()
    t.join(10)
    assert woke == [seen + 1]
    assert watch.wait_change(seen + 1, 0) == seen + 1  # nothing new: returns at the timeout


def test_exit_watch_sees_a_new_exit_file(tmp_path):
    watch = ExitWatch(tmp_path / "exits")
    stop = threading.Event()
    try:
        if not watch.start(stop):
            pytest.skip("no inotify on this kernel")
        seen = watch.generation
        (tmp_path / "exits" / "abc").write_text("0")
        assert watch.wait_change(seen, 10) > seen
    finally:
        stop.set()
