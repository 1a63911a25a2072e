"""The framing of a ``COM_QUERY`` reply (``dsm.modules.mysql_reply``): when is a reply whole.

Fed byte by byte, a reply is whole exactly at its last byte, never before:
that is what lets ``mod_mysql`` parse it on the loop without blocking.
"""

from __future__ import annotations

from dsm.modules.mysql_reply import MORE_RESULTS, ReplyFrame


def _packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def _ok(status: int = 0) -> bytes:
    return b"\x00\x01\x00" + status.to_bytes(2, "little") + b"\x00\x00"


def _eof(status: int = 0) -> bytes:
    return b"\xfe\x00\x00" + status.to_bytes(2, "little")


def _result_set(rows: list[bytes], status: int = 0) -> list[bytes]:
    return [b"\x02", b"column-a", b"column-b", _eof(), *rows, _eof(status)]


def _whole_only_at_the_end(payloads: list[bytes]) -> ReplyFrame:
    data = b"".join(_packet(i, p) for i, p in enumerate(payloads))
    frame = ReplyFrame()
    buf = bytearray()
    for k, byte in enumerate(data):
        buf.append(byte)
        assert frame.feed(buf) == (k == len(data) - 1), k
    return frame


def test_an_ok_or_err_packet_is_a_whole_reply() -> None:
    _whole_only_at_the_end([_ok()])
    _whole_only_at_the_end([b"\xff\x28\x04#42000syntax"])


def test_a_result_set_is_whole_after_its_final_eof_only() -> None:
    # a row whose first byte is 0xFE (a long length-encoded string) is a row, not the EOF
    long_row = b"\xfe" + (20).to_bytes(8, "little") + b"x" * 20
    _whole_only_at_the_end(_result_set([b"\x01a\x01b", long_row, b"\x01c\x01d"]))


def test_an_error_in_the_middle_of_the_rows_ends_the_reply() -> None:
    _whole_only_at_the_end([b"\x01", b"col", _eof(), b"\x01a", b"\xff\x00\x00#HY000killed"])


def test_more_results_belong_to_the_same_reply() -> None:
    _whole_only_at_the_end(
        [*_result_set([b"\x01a\x01b"], status=MORE_RESULTS), _ok(MORE_RESULTS), _ok()]
    )


def test_a_reply_over_16_mb_or_a_local_infile_request_is_left_to_the_client() -> None:
    frame = ReplyFrame()
    assert not frame.feed(b"\xff\xff\xff\x01" + b"x" * 10) and frame.unsupported
    frame = ReplyFrame()
    assert not frame.feed(_packet(1, b"\xfbfile.csv")) and frame.unsupported


def test_deprecate_eof_ends_a_result_set_with_an_ok_packet() -> None:
    data = b"".join(
        _packet(i, p) for i, p in enumerate([b"\x01", b"col", b"\x01a", b"\xfe\x00\x00\x00\x00\x00\x00"])
    )
    frame = ReplyFrame(deprecate_eof=True)
    assert frame.feed(data)
