"""``dsm lsp`` end to end: the server as a subprocess, spoken to over stdio as an editor does.

Diagnostics carry the codes and messages of ``dsm check`` (L-90 compile
errors, L-92/L-94 warnings), including those found in ``#include``d files
(L-11 … L-18) and names of ``import()``ed modules (L-73).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

from dsm.compiler import check_paths

MAIN = """\
import(mod_regex)
initial state START
  enter { set($greeting=hello); playPrompt(welcome) };
#include "common.dsm"
state DONE;
function cleanup() { flushPlaylist };
transition "go" START - key(#key == 1) / cleanup() -> DONE;
transition "out" (START, DONE) - hangup -> END;
"""

COMMON = """\
state END
  enter { stop(false) };
transition "again" END - timer(#id == 1) -> START;
"""


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "dsm.lsp"]),
    scope="module",
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        t.InitializeParams(capabilities=pytest_lsp.client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    (root / "main.dsm").write_text(MAIN)
    (root / "common.dsm").write_text(COMMON)
    (root / "broken_inc.dsm").write_text("state X enter { nosuchaction };\n")
    return root


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            t.TextDocumentItem(
                uri=uri,
                language_id="dsm",
                version=1,
                text=path.read_text() if text is None else text,
            )
        )
    )
    await _wait_diagnostics(client, uri)
    return uri


async def _wait_diagnostics(client: LanguageClient, uri: str) -> None:
    for _ in range(100):  # bounded: 10 s at most
        if uri in client.diagnostics:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no diagnostics for {uri}")


def _pos(text: str, needle: str, delta: int = 0) -> t.Position:
    index = text.index(needle) + delta
    line = text.count("\n", 0, index)
    return t.Position(line, index - (text.rfind("\n", 0, index) + 1))


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_match_dsm_check_and_follow_edits(client: LanguageClient, tmp_path: Path):
    """L-90: open a broken script; the codes and messages are those of ``dsm check``; fix it; close."""
    path = tmp_path / "broken.dsm"
    text = 'state A enter { playPromt(x) };\n#include "missing.dsm"\n'
    path.write_text(text)
    uri = await _open(client, path)
    got = {
        (d.code, d.message.split("\nhint:")[0], d.range.start.line + 1)
        for d in client.diagnostics[uri]
    }
    expected = {(d.code, d.message, d.line) for d in check_paths([str(path)])}
    assert got == expected and {c for c, _, _ in got} >= {"E002"}
    assert any(d.code == "E011" or "playPromt" in d.message for d in client.diagnostics[uri])
    # a fix, typed: diagnostics follow after the debounce
    client.diagnostics.pop(uri, None)
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [
                t.TextDocumentContentChangeWholeDocument(
                    text="initial state A enter { playPrompt(x) };\n"
                )
            ],
        )
    )
    await _wait_diagnostics(client, uri)
    assert client.diagnostics[uri]
    assert all(d.severity == t.DiagnosticSeverity.Warning for d in client.diagnostics[uri])
    client.text_document_did_close(t.DidCloseTextDocumentParams(t.TextDocumentIdentifier(uri=uri)))


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_of_an_included_file_go_to_that_file(
    client: LanguageClient, tmp_path: Path
):
    """L-11: a problem inside an included file is reported at the included file."""
    (tmp_path / "inc.dsm").write_text("state X enter { nosuchaction };\n")
    path = tmp_path / "top.dsm"
    path.write_text('initial state X;\n#include "inc.dsm"\n')
    await _open(client, path)
    inc_uri = (tmp_path / "inc.dsm").as_uri()
    await _wait_diagnostics(client, inc_uri)
    assert [d.code for d in client.diagnostics[inc_uri]] == [
        d.code for d in check_paths([str(path)]) if d.path.endswith("inc.dsm")
    ]
    assert client.diagnostics[inc_uri]


@pytest.mark.asyncio(loop_scope="module")
async def test_completion_at_several_positions(client: LanguageClient, project: Path):
    """Actions with argument shapes, conditions, imported module names (L-73), states, $vars, #params."""
    text = MAIN + 'transition "t" START - key(#) / set($) -> \n'
    uri = await _open(client, project / "main.dsm", text)

    async def labels(pos: t.Position) -> list[t.CompletionItem]:
        result = await client.text_document_completion_async(
            t.CompletionParams(t.TextDocumentIdentifier(uri=uri), pos)
        )
        assert isinstance(result, t.CompletionList)
        return result.items

    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    line = text.count("\n") - 1
    states = {i.label for i in await labels(t.Position(line, len(last)))}
    assert {"START", "DONE", "END"} <= states
    params = {i.label for i in await labels(t.Position(line, last.index("#") + 1))}
    assert "#key" in params and "#method" not in params
    variables = {i.label for i in await labels(t.Position(line, last.index("$") + 1))}
    assert "$greeting" in variables
    actions = {i.label: i for i in await labels(_pos(text, "playPrompt(welcome)"))}
    assert "playPrompt" in actions and "cleanup" in actions
    assert actions["playPrompt"].detail == "playPrompt(name)"
    assert any(i.detail and "mod_regex" in i.detail for i in actions.values())
    conditions = {i.label for i in await labels(_pos(text, "key(#key == 1)"))}
    assert {"key", "timer", "hangup"} <= conditions and "playPrompt" not in conditions
    # in a transition's source list (L-45)
    at = _pos(text, "(START, DONE)", 8)
    assert {"START", "DONE", "END"} <= {i.label for i in await labels(at)}


@pytest.mark.asyncio(loop_scope="module")
async def test_hover_on_action_condition_and_state(client: LanguageClient, project: Path):
    uri = await _open(client, project / "main.dsm")
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), _pos(MAIN, "playPrompt(", 2))
    )
    assert hover is not None and isinstance(hover.contents, t.MarkupContent)
    assert "playPrompt" in hover.contents.value and "action" in hover.contents.value
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), _pos(MAIN, "key(#key", 1))
    )
    assert hover is not None and "Key" in hover.contents.value  # type: ignore[union-attr]
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), _pos(MAIN, "-> DONE", 4))
    )
    assert hover is not None and "state DONE" in hover.contents.value  # type: ignore[union-attr]
    text = MAIN + "state E enter { throwOnError; log(1, $errno) };\n"
    uri = await _open(client, project / "main.dsm", text)
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), _pos(text, "$errno", 2))
    )
    assert hover is not None and "`arg`" in hover.contents.value  # type: ignore[union-attr]
    hover = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), _pos(text, "$greeting", 2))
    )
    assert hover is not None and "line 3" in hover.contents.value  # type: ignore[union-attr]


@pytest.mark.asyncio(loop_scope="module")
async def test_definition_references_rename_across_an_include(
    client: LanguageClient, project: Path
):
    """L-11: END is declared in the included file; it is found, referenced and renamed there too."""
    uri = await _open(client, project / "main.dsm")
    common = (project / "common.dsm").as_uri()
    where = _pos(MAIN, "-> END", 3)
    found = await client.text_document_definition_async(
        t.DefinitionParams(t.TextDocumentIdentifier(uri=uri), where)
    )
    assert isinstance(found, list) and [loc.uri for loc in found] == [common]
    assert found[0].range.start == t.Position(0, 6)
    refs = await client.text_document_references_async(
        t.ReferenceParams(
            context=t.ReferenceContext(True),
            text_document=t.TextDocumentIdentifier(uri=uri),
            position=where,
        )
    )
    assert refs is not None and {r.uri for r in refs} == {uri, common} and len(refs) == 3
    edit = await client.text_document_rename_async(
        t.RenameParams(t.TextDocumentIdentifier(uri=uri), where, "FINISH")
    )
    assert edit is not None and edit.changes is not None
    assert len(edit.changes[uri]) == 1 and len(edit.changes[common]) == 2
    assert all(e.new_text == "FINISH" for e in edit.changes[common])
    # a function: definition from its call
    found = await client.text_document_definition_async(
        t.DefinitionParams(t.TextDocumentIdentifier(uri=uri), _pos(MAIN, "cleanup() ->", 2))
    )
    assert isinstance(found, list) and found[0].range.start == _pos(MAIN, "cleanup() {")
    # the #include line leads to the file
    found = await client.text_document_definition_async(
        t.DefinitionParams(t.TextDocumentIdentifier(uri=uri), _pos(MAIN, "#include", 3))
    )
    assert isinstance(found, list) and found[0].uri == common
    # references of the #include line: every line including that file
    refs = await client.text_document_references_async(
        t.ReferenceParams(
            context=t.ReferenceContext(True),
            text_document=t.TextDocumentIdentifier(uri=uri),
            position=_pos(MAIN, "#include", 3),
        )
    )
    assert refs is not None and [(r.uri, r.range.start.line) for r in refs] == [(uri, 3)]


@pytest.mark.asyncio(loop_scope="module")
async def test_document_symbols_and_folding(client: LanguageClient, project: Path):
    uri = await _open(client, project / "main.dsm")
    symbols = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(t.TextDocumentIdentifier(uri=uri))
    )
    assert symbols is not None
    names = [(s.name, s.kind) for s in symbols]  # type: ignore[union-attr]
    assert names == [
        ("START", t.SymbolKind.Class),
        ("DONE", t.SymbolKind.Class),
        ("cleanup", t.SymbolKind.Function),
        ("go", t.SymbolKind.Event),
        ("out", t.SymbolKind.Event),
    ]
    folds = await client.text_document_folding_range_async(
        t.FoldingRangeParams(t.TextDocumentIdentifier(uri=uri))
    )
    assert folds and folds[0].start_line == 1 and folds[0].end_line == 2


@pytest.mark.asyncio(loop_scope="module")
async def test_semantic_tokens_of_an_example(client: LanguageClient):
    path = Path(__file__).resolve().parents[2] / "examples" / "menu" / "menu.dsm"
    uri = await _open(client, path)
    assert not client.diagnostics[uri]
    result = await client.text_document_semantic_tokens_full_async(
        t.SemanticTokensParams(t.TextDocumentIdentifier(uri=uri))
    )
    assert result is not None and len(result.data) % 5 == 0
    legend = [
        "keyword",
        "class",
        "function",
        "event",
        "variable",
        "parameter",
        "string",
        "comment",
        "macro",
    ]
    kinds = {legend[result.data[i + 3]] for i in range(0, len(result.data), 5)}
    assert kinds >= {
        "keyword",
        "class",
        "function",
        "event",
        "variable",
        "parameter",
        "string",
        "comment",
    }
    # decoded tokens: the first is the comment on line 0, `initial` starts line 9
    line = col = 0
    decoded = []
    for i in range(0, len(result.data), 5):
        dl, dc, length, kind, _ = result.data[i : i + 5]
        line, col = line + dl, (col + dc if dl == 0 else dc)
        decoded.append((line, col, length, legend[kind]))
    assert decoded[0] == (0, 0, len(path.read_text().split("\n")[0]), "comment")
    assert (9, 0, 7, "keyword") in decoded and (9, 14, 4, "class") in decoded


@pytest.mark.asyncio(loop_scope="module")
async def test_broken_document_mid_edit_still_answers(client: LanguageClient, tmp_path: Path):
    """E017/E018: an unfinished construct is a diagnostic; completion and symbols still answer."""
    path = tmp_path / "mid.dsm"
    text = (
        'initial state A enter { playPrompt(x) };\ntransition "t" A - key(#key == 1 / set($v=1) -> '
    )
    path.write_text(text)
    uri = await _open(client, path)
    assert {d.code for d in client.diagnostics[uri]} & {"E017", "E018"}
    result = await client.text_document_completion_async(
        t.CompletionParams(
            t.TextDocumentIdentifier(uri=uri), t.Position(1, len(text.split("\n")[1]))
        )
    )
    assert isinstance(result, t.CompletionList) and "A" in {i.label for i in result.items}
    symbols = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(t.TextDocumentIdentifier(uri=uri))
    )
    assert symbols is not None and symbols[0].name == "A"


@pytest.mark.asyncio(loop_scope="module")
async def test_prompt_names_of_a_dsm_conf_beside_the_script(client: LanguageClient, tmp_path: Path):
    """W017 as ``dsm check --config``: a playPrompt name no prompt file of the dsm.conf provides."""
    from dsm.runtime.media.audio import write_wav

    write_wav(tmp_path / "ok.wav", [0] * 800)
    (tmp_path / "prompts.txt").write_text(f"hello={tmp_path / 'ok.wav'}\n")
    (tmp_path / "dsm.conf").write_text(
        f"diag_path={tmp_path}\nload_diags=ivr\nregister_apps=ivr\nload_prompts={tmp_path / 'prompts.txt'}\n"
    )
    path = tmp_path / "ivr.dsm"
    path.write_text(
        "initial state S enter { playPrompt(hello); playPrompt(nosuch) };\n"
        'transition "bye" S - hangup / stop(false) -> S;\n'
    )
    uri = await _open(client, path)
    w017 = [d for d in client.diagnostics[uri] if d.code == "W017"]
    assert len(w017) == 1 and "nosuch" in w017[0].message


@pytest.mark.asyncio(loop_scope="module")
async def test_rapid_edits_are_debounced_to_the_last_text(client: LanguageClient, tmp_path: Path):
    """Typing: many changes in a row; the diagnostics that arrive are those of the last text."""
    path = tmp_path / "typing.dsm"
    path.write_text("initial state A;\n")
    uri = await _open(client, path)
    final = "initial state A enter { nosuch };\n"
    client.diagnostics.pop(uri, None)
    for version, cut in enumerate(range(len("initial state A enter { nosuch"), len(final) + 1), 2):
        client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                t.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [t.TextDocumentContentChangeWholeDocument(text=final[:cut])],
            )
        )
    await _wait_diagnostics(client, uri)
    expected = [d for d in check_paths([str(_write(tmp_path / "final.dsm", final))]) if d.is_error]
    got = [d for d in client.diagnostics[uri] if d.severity == t.DiagnosticSeverity.Error]
    assert [d.code for d in got] == [d.code for d in expected] and got


@pytest.mark.asyncio(loop_scope="module")
async def test_settings_change_the_module_path(client: LanguageClient, tmp_path: Path):
    """L-73: import(NAME) of a module on the configured module path; its names become known."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "mod_shop.py").write_text(
        "from dsm.runtime.registry import Module\n"
        "module = Module('mod_shop')\n"
        "@module.action('shop.buy', 'P,mand')\n"
        "def buy(ctx, a, b):\n    pass\n"
    )
    path = tmp_path / "shop.dsm"
    text = "import(mod_shop)\ninitial state A enter { shop.buy(1, 2) };\n"
    path.write_text(text)
    uri = await _open(client, path)
    assert any(
        d.code != "W008" and d.severity == t.DiagnosticSeverity.Error
        for d in client.diagnostics[uri]
    )
    client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"dsm": {"modulePath": [str(mods)]}})
    )
    client.diagnostics.pop(uri, None)
    await _wait_diagnostics(client, uri)
    assert not [d for d in client.diagnostics[uri] if d.severity == t.DiagnosticSeverity.Error]
    result = await client.text_document_completion_async(
        t.CompletionParams(t.TextDocumentIdentifier(uri=uri), _pos(text, "shop.buy"))
    )
    assert isinstance(result, t.CompletionList)
    buy = [i for i in result.items if i.label == "shop.buy"]
    assert buy and buy[0].detail and "mod_shop" in buy[0].detail
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(settings={}))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
