"""Docker's filters, container list entries, status texts, wait conditions (pure)."""

from __future__ import annotations

import pytest

from vessel.api import filters as F
from vessel.api.views import (FilterFacts, PortView, check_container_filters, check_wait_condition,
                              container_matches, container_summary, exit_seen, human_duration, removal_ready,
                              status_text, wait_done)
from vessel.engine.db import ContainerRecord
from vessel.errors import InvalidArgument

pytestmark = pytest.mark.unit


def rec(**kw) -> ContainerRecord:
    base = dict(id="ab" * 32, name="web", image="busybox", image_id="sha256:" + "cd" * 32, created=1000.0,
                options={"labels": {"app": "x"}, "network": "bridge"}, status="running", started_at=1000.0)
    base.update(kw)
    return ContainerRecord(**base)


def facts(**kw) -> FilterFacts:
    base = dict(labels={"app": "x", "tier": "web"}, image_ids=("busybox", "busybox:latest"), networks=("bridge",),
                volumes=("data", "/data"), ports=(PortView(80, "tcp", "0.0.0.0", 8080),), exposed=("80/tcp",))
    base.update(kw)
    return FilterFacts(**base)


def test_filters_both_json_forms():
    assert F.parse('{"status":{"running":true,"exited":false}}') == {"status": ["running"]}
    assert F.parse('{"status":["running","exited"]}') == {"status": ["running", "exited"]}
    assert F.parse(None) == {} and F.parse("") == {}


@pytest.mark.parametrize("raw", ['[1]', '{"a": 1}', '{"a": {"b": "yes"}}', "{nope", '{"a": [1]}'])
def test_bad_filters_are_400(raw):
    with pytest.raises(InvalidArgument):
        F.parse(raw)


def test_unknown_filter_key_is_refused_with_dockerds_message():
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        F.parse('{"colour":["red"]}', ("status",))


def test_bool_filter():
    assert F.bool_filter({"dangling": ["true"]}, "dangling") is True
    assert F.bool_filter({"dangling": ["0"]}, "dangling") is False
    assert F.bool_filter({}, "dangling") is None
    with pytest.raises(InvalidArgument):
        F.bool_filter({"dangling": ["maybe"]}, "dangling")


def test_label_name_and_glob_matching():
    labels = {"a": "1", "b": "2"}
    assert F.label_match(labels, ["a", "b=2"]) and not F.label_match(labels, ["a=2"])
    assert F.label_match(labels, ["a!=2"]) and not F.label_match(labels, ["a!=1"])
    assert F.name_match("web-1", ["^web"]) and F.name_match("web-1", ["^/web"]) and not F.name_match("db", ["web"])
    assert F.name_match("a(b", ["a(b"])  # a bad regular expression matches literally
    assert F.glob_match("busy*", "busybox") and not F.glob_match("busy*", "library/busybox")
    assert F.glob_match("*:latest", "busybox:latest")


def test_human_duration_like_go_units():
    assert human_duration(0.3) == "Less than a second"
    assert human_duration(1) == "1 second" and human_duration(59) == "59 seconds"
    assert human_duration(61) == "About a minute" and human_duration(600) == "10 minutes"
    assert human_duration(3600) == "About an hour" and human_duration(5 * 3600) == "5 hours"
    assert human_duration(3 * 86400) == "3 days"


def test_status_texts():
    assert status_text("running", None, 100, None, 110) == "Up 10 seconds"
    assert status_text("paused", None, 100, None, 110) == "Up 10 seconds (Paused)"
    assert status_text("exited", 3, 100, 105, 110) == "Exited (3) 5 seconds ago"
    assert status_text("created", None, None, None, 110) == "Created"


def test_container_summary_shape():
    out = container_summary(rec(), command="httpd -f", ports=[PortView(80, "tcp", "", 8080), PortView(443, "tcp")],
                            networks={"bridge": {}}, mounts=[], labels={"app": "x"}, now=1005)
    assert out["Names"] == ["/web"] and out["State"] == "running" and out["Status"] == "Up 5 seconds"
    assert out["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                            {"PrivatePort": 443, "Type": "tcp"}]
    assert out["HostConfig"] == {"NetworkMode": "bridge"} and out["Created"] == 1000


@pytest.mark.parametrize("flt,expected", [
    ({"status": ["running"]}, True), ({"status": ["exited"]}, False),
    ({"name": ["^we"]}, True), ({"id": ["abab"]}, True), ({"id": ["ff"]}, False),
    ({"label": ["tier=web"]}, True), ({"label": ["tier=db"]}, False),
    ({"ancestor": ["busybox:latest"]}, True), ({"ancestor": ["alpine"]}, False),
    ({"network": ["bridge"]}, True), ({"volume": ["/data"]}, True), ({"volume": ["other"]}, False),
    ({"publish": ["8080"]}, True), ({"publish": ["8080/udp"]}, False), ({"expose": ["80"]}, True),
    ({"health": ["none"]}, True), ({"health": ["healthy"]}, False), ({"is-task": ["false"]}, True),
])
def test_container_filters(flt, expected):
    check_container_filters(flt)
    assert container_matches(rec(), facts(), flt, (None, None)) is expected


def test_before_and_since_compare_creation_times():
    assert container_matches(rec(created=50), facts(), {"before": ["x"]}, (100, None))
    assert not container_matches(rec(created=150), facts(), {"before": ["x"]}, (100, None))
    assert container_matches(rec(created=150), facts(), {"since": ["x"]}, (None, 100))


def test_container_filter_checks():
    with pytest.raises(InvalidArgument):
        check_container_filters({"colour": ["x"]})
    with pytest.raises(InvalidArgument):
        check_container_filters({"status": ["sleeping"]})
    with pytest.raises(InvalidArgument):
        check_container_filters({"exited": ["zero"]})


def test_wait_conditions():
    assert check_wait_condition(None) == "not-running"
    with pytest.raises(InvalidArgument):
        check_wait_condition("whenever")
    # not-running: created counts as not running
    assert wait_done("not-running", "created", None, 10, False)
    assert not wait_done("not-running", "running", 5, 10, True)
    # next-exit: an exit after the wait began
    assert not wait_done("next-exit", "created", None, 10, False)
    assert not wait_done("next-exit", "exited", 5, 10, False)  # an old exit does not count
    assert wait_done("next-exit", "exited", 11, 10, False)
    assert wait_done("next-exit", "exited", 5, 10, True)
    # removed: only when the container is gone
    assert not wait_done("removed", "exited", 11, 10, False) and wait_done("removed", None, None, 10, False)
    assert removal_ready("exited", 5, 10, False) and not removal_ready("created", None, 10, False)
    assert exit_seen("exited", 12, 10, False) and not exit_seen("running", 12, 10, False)
