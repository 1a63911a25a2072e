"""When is a MySQL reply whole?  Packet framing of a ``COM_QUERY`` reply, fed bytes (sans-I/O).

``mod_mysql`` waits for a query's reply on the event loop instead of a
worker thread (``docs/modules.md``, "How queries wait").  The bytes are read
as they arrive and fed here; once the whole reply is in, PyMySQL parses it
from memory and cannot block.  Only the framing is read, never the values:

* a packet is a 3-byte little-endian payload length, a sequence byte, the
  payload; a payload of 0xFFFFFF bytes continues in the next packet (over
  16 MB: :attr:`ReplyFrame.unsupported`, the caller finishes on a thread);
* a reply is an OK (0x00) or ERR (0xFF) packet, or a result set: the
  column count, one definition packet per column, an EOF packet (unless
  ``CLIENT_DEPRECATE_EOF``), the rows, and an EOF/OK packet (0xFE, short)
  or an ERR packet;
* an OK or the final EOF with ``SERVER_MORE_RESULTS_EXISTS`` is followed by
  another result (a stored procedure), which is part of the same reply.
"""

from __future__ import annotations

__all__ = ["ReplyFrame", "MORE_RESULTS"]

MORE_RESULTS = 0x0008  # SERVER_MORE_RESULTS_EXISTS
_MAX_PAYLOAD = 0xFFFFFF

_FIRST = 0  # the first packet of a result
_COLUMNS = 1  # column definitions (and the EOF after them)
_ROWS = 2  # rows until EOF/OK or ERR
_DONE = 3


def _lenenc(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """A length-encoded integer at ``pos``: (value, position after it)."""
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC:
        return int.from_bytes(data[pos + 1 : pos + 3], "little"), pos + 3
    if first == 0xFD:
        return int.from_bytes(data[pos + 1 : pos + 4], "little"), pos + 4
    return int.from_bytes(data[pos + 1 : pos + 9], "little"), pos + 9


def _ok_status(payload: bytes | bytearray) -> int:
    """Status flags of an OK packet (header, affected rows, insert id, status)."""
    try:
        _, pos = _lenenc(payload, 1)
        _, pos = _lenenc(payload, pos)
        return int.from_bytes(payload[pos : pos + 2], "little")
    except IndexError:
        return 0


class ReplyFrame:
    """Feed the bytes of one ``COM_QUERY`` reply; :attr:`whole` once all of it is in.

    Keeps no bytes itself: ``feed`` gets the whole buffer received so far
    (the reply starts at ``start``) and scans only what it has not seen.
    """

    __slots__ = ("deprecate_eof", "whole", "unsupported", "_pos", "_state", "_columns")

    def __init__(self, start: int = 0, deprecate_eof: bool = False) -> None:
        self.deprecate_eof = deprecate_eof
        self.whole = False
        self.unsupported = False
        self._pos = start
        self._state = _FIRST
        self._columns = 0

    def reset(self, start: int = 0) -> None:
        """Ready for the next reply (as a new frame: one object per connection, not per reply)."""
        self.whole = False
        self.unsupported = False
        self._pos = start
        self._state = _FIRST
        self._columns = 0

    def feed(self, buf: bytes | bytearray) -> bool:
        """Scan the new complete packets of ``buf`` (everything received so far); ``whole``.

        One loop with the packet rules inline (no call per packet): a
        one-row select is six packets, scanned on every query.
        """
        if self.whole or self.unsupported:
            return self.whole
        pos = self._pos
        end = len(buf)
        state = self._state
        columns = self._columns
        deprecate_eof = self.deprecate_eof
        while pos + 4 <= end:
            size = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            if size == _MAX_PAYLOAD:
                self.unsupported = True
                break
            at = pos + 4
            if at + size > end:
                break
            pos = at + size
            head = buf[at] if size else 0
            if state == _ROWS:
                if head == 0xFF:
                    self.whole = True
                    break
                if head == 0xFE and (size < 9 or deprecate_eof):  # EOF, or OK in its place
                    if size < 9:
                        status = buf[at + 3] | buf[at + 4] << 8 if size >= 5 else 0
                    else:
                        status = _ok_status(buf[at:pos])
                    if not status & MORE_RESULTS:
                        self.whole = True
                        state = _DONE
                        break
                    state = _FIRST
            elif state == _COLUMNS:
                if columns > 0:
                    columns -= 1
                    if columns == 0 and deprecate_eof:
                        state = _ROWS
                else:  # the EOF after the definitions
                    state = _ROWS
            elif state == _FIRST:
                if head == 0x00:
                    if not _ok_status(buf[at:pos]) & MORE_RESULTS:
                        self.whole = True
                        state = _DONE
                        break
                elif head == 0xFF:
                    self.whole = True
                    break
                elif head == 0xFB:  # LOCAL INFILE request: the client must answer; not here
                    self.unsupported = True
                    break
                else:
                    columns, _ = _lenenc(buf, at)
                    state = _COLUMNS
        self._pos = pos
        self._state = state
        self._columns = columns
        return self.whole
