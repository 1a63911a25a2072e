"""Completion latency of ``dsm lsp`` on a 1,000-state script (target < 50 ms).

Two figures: the completion answer computed in-process from the document's
analysis (what a request costs once diagnostics have run), and the round trip
of a ``textDocument/completion`` request to the server as a subprocess over
stdio, as an editor sends it (median of 30, after the analysis is warm).
The analysis itself (compile + index, the debounced work after typing) is
reported too.

Run: ``python benchmarks/lsp.py``.  The last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import BaseLanguageClient

from dsm.lsp.analysis import analyse
from dsm.lsp.features import completion


def generated(n: int) -> str:
    """A ring of ``n`` states, each with an enter block and three transitions."""
    lines = ["initial state S0 enter { playPrompt(p0); set($n=0) };"]
    lines += [f"state S{i} enter {{ playPrompt(p{i}); inc($n) }};" for i in range(1, n)]
    for i in range(n):
        nxt = (i + 1) % n
        lines.append(f'transition "next{i}" S{i} - key(#key == 1) / log(3, next) -> S{nxt};')
        lines.append(f'transition "t{i}" S{i} - timer(#id == {i}) -> S0;')
        lines.append(f'transition "h{i}" S{i} - hangup / stop(false) -> S{i};')
    return "\n".join(lines) + "\n"


async def round_trip(path: Path, text: str, line: int, col: int) -> list[float]:
    client = BaseLanguageClient("bench", "1")
    await client.start_io(sys.executable, "-m", "dsm.lsp")
    try:
        await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
        client.initialized(t.InitializedParams())
        uri = path.as_uri()
        client.text_document_did_open(
            t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "dsm", 1, text))
        )
        doc = t.TextDocumentIdentifier(uri)
        params = t.CompletionParams(doc, t.Position(line, col))
        await client.text_document_completion_async(params)  # warm: the analysis is done
        times = []
        for _ in range(30):
            start = time.perf_counter()
            result = await client.text_document_completion_async(params)
            times.append(time.perf_counter() - start)
            assert isinstance(result, t.CompletionList) and len(result.items) >= 1000
        await client.shutdown_async(None)
        client.exit(None)
        return times
    finally:
        await client.stop()


def main() -> None:
    text = generated(1000)
    lines = text.split("\n")
    line = 1000  # the first transition: complete the target after `->`
    col = lines[line].index("-> ") + 3
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.dsm"
        path.write_text(text)
        analyse(text, str(path))  # warm: grammar table, imports
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            a = analyse(text, str(path))
            runs.append(time.perf_counter() - start)
        inproc = []
        for _ in range(30):
            start = time.perf_counter()
            items = completion(a, text, line, col).items
            inproc.append(time.perf_counter() - start)
        assert len(items) == 1000, len(items)
        rtt = asyncio.run(round_trip(path, text, line, col))
    print(
        json.dumps(
            {
                "states": 1000,
                "completion_ms_in_process": round(statistics.median(inproc) * 1000, 3),
                "completion_ms_round_trip": round(statistics.median(rtt) * 1000, 3),
                "analysis_ms": round(min(runs) * 1000, 1),
                "target_ms": 50,
            }
        )
    )


if __name__ == "__main__":
    main()
