"""Pieces of the cluster operations without processes: the cluster file, node settings, labelled metrics."""

from __future__ import annotations

import pytest

from dsm.runtime.control.cluster import ClusterNode, ask_all, parse_nodes
from dsm.runtime.node import NodeSettings, label_metrics


def test_cluster_file_lines_comments_and_token_files() -> None:
    nodes = parse_nodes("# nodes\nnode1 127.0.0.1:5040 /t/1.token\n\nnode2 10.0.0.2:5040  # second\n")
    assert nodes == [ClusterNode("node1", "127.0.0.1:5040", "/t/1.token"), ClusterNode("node2", "10.0.0.2:5040")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node1\n", "f:1: expected 'NODE_ID HOST:PORT [TOKEN_FILE]'"),
        ("node1 nohostport\n", "f:1: expected"),
        ("a 1.2.3.4:1\na 1.2.3.4:2\n", "f:2: node 'a' listed twice"),
        ("# empty\n", "f: no nodes listed"),
    ],
)
def test_bad_cluster_file_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_nodes(text, "f")


def test_unreachable_node_is_reported_not_raised() -> None:
    """A node that does not answer gives an error entry; the others are still asked."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (answer,) = ask_all([ClusterNode("gone", f"127.0.0.1:{port}")], "status", timeout=2, token="x")
    assert answer.error.startswith(f"no answer at 127.0.0.1:{port}")


def test_node_settings_flags_over_config_and_validation() -> None:
    assert NodeSettings.from_settings({"node_id": "a", "drain_timeout": "5"}) == NodeSettings("a", 5.0)
    assert NodeSettings.from_settings({"node_id": "a"}, "b", 1.0) == NodeSettings("b", 1.0)
    assert NodeSettings.from_settings({}) == NodeSettings("", None)
    with pytest.raises(ValueError, match="node_id 'a b'"):
        NodeSettings.from_settings({"node_id": "a b"})
    with pytest.raises(ValueError, match="drain_timeout 'soon'"):
        NodeSettings.from_settings({"drain_timeout": "soon"})
    with pytest.raises(ValueError, match="drain_timeout -1"):
        NodeSettings.from_settings({}, None, -1.0)


def test_every_metric_sample_gets_the_node_label() -> None:
    text = '# HELP x y\n# TYPE x gauge\nx 1\ny{diagram="m"} 2\n'
    assert label_metrics(text, "n1") == '# HELP x y\n# TYPE x gauge\nx{node="n1"} 1\ny{node="n1",diagram="m"} 2\n'
    assert label_metrics(text, "") == text
