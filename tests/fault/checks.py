"""Assertions shared by the fault tests: acknowledged writes present once on
every node, offsets equal to the log end, no rejected events."""

from __future__ import annotations

from collections import Counter

from faultlib import WriteResult, log_ends, read_log
from harness import Node, wait_converged


def assert_log_applied_exactly_once(nodes: list[Node], brokers: str, topic: str,
                                    acked: list[WriteResult], timeout: float = 90.0) -> dict:
    """Every node has applied the whole log once: same checksum, `_cl_offsets`
    equal to the log end, one row per INSERT in the log, no rejections, and
    every acknowledged write present."""
    summary = wait_converged(nodes, timeout=timeout)
    ends = log_ends(brokers, topic)
    records = read_log(brokers, topic)
    assert len(records) == sum(ends.values()), (len(records), ends)
    import json
    event_ids = Counter()
    entity_ids = Counter()
    for rec in records:
        event = json.loads(rec["value"])
        assert event["operation"] == "INSERT", event
        event_ids[event["id"]] += 1
        entity_ids[event["data"]["id"]] += 1
    dup_events = {k: v for k, v in event_ids.items() if v > 1}
    assert not dup_events, f"events appended more than once: {dup_events}"
    dup_entities = {k: v for k, v in entity_ids.items() if v > 1}
    assert not dup_entities, f"entities created by more than one event: {dup_entities}"

    acked_ids = [r.user_id for r in acked]
    assert all(acked_ids), [r for r in acked if not r.user_id][:5]
    assert len(set(acked_ids)) == len(acked_ids), "two acknowledged writes share an id"
    missing_from_log = set(acked_ids) - set(entity_ids)
    assert not missing_from_log, f"{len(missing_from_log)} acknowledged writes are not in the log"

    for node in nodes:
        offsets = {p: o for (t, p, o) in node.query("SELECT topic, partition, next_offset FROM _cl_offsets")
                   if t == topic}
        assert offsets == {p: e for p, e in ends.items() if e > 0} or offsets == ends, (node.name, offsets, ends)
        rows = node.query("SELECT id, email FROM users")
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)) == len(entity_ids), (node.name, len(ids), len(entity_ids))
        assert set(ids) == set(entity_ids), node.name
        emails = [r[1] for r in rows]
        assert len(emails) == len(set(emails)), node.name
        rejected = node.query("SELECT partition, offset, reason FROM _cl_rejected")
        assert rejected == [], f"{node.name} rejected events: {rejected[:5]}"
        missing = set(acked_ids) - set(ids)
        assert not missing, f"{node.name} lacks {len(missing)} acknowledged writes"
    assert summary["rows"] == len(entity_ids)
    return summary
