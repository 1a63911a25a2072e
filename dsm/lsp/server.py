"""``dsm lsp``: the pygls server wiring LSP requests to :mod:`dsm.lsp.features`.

Diagnostics are debounced: each change restarts a short timer per document,
and only the last text is analysed.  Requests use the latest analysis and
re-analyse first only when the text changed since, so a completion on a large
script costs the lookup, not a compile.  Settings come from the client's
``initializationOptions`` or ``workspace/didChangeConfiguration`` (``includePaths``,
``modulePath``, ``config``, also under a ``dsm`` key); without
``config`` a ``dsm.conf`` beside the script gives the prompt names (W017), read
as ``dsm check --config`` reads them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from dsm.diagnostics import Diagnostic
from dsm.lsp import features as f
from dsm.lsp.analysis import Analysis, analyse

__all__ = ["DsmServer", "build_server"]

DEBOUNCE = 0.25  # seconds of quiet typing before diagnostics are recomputed


class DsmServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("dsm-lsp", "0.1.0")
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.published: dict[str, set[str]] = {}  # document uri -> uris it published to
        self.include_paths: list[str] = []
        self.module_path: list[str] = []
        self.config: str | None = None
        self.prompts: dict[str, tuple[tuple[int, int], set[str] | None, list[Diagnostic]]] = {}

    def known_prompts(self, path: str) -> tuple[set[str] | None, list[Diagnostic]]:
        """Prompt names (and problems) of the configuration for ``path``, cached by file stamp."""
        conf = self.config or os.path.join(os.path.dirname(path), "dsm.conf")
        try:
            st = os.stat(conf)
        except OSError:
            return None, []
        stamp = (st.st_mtime_ns, st.st_size)
        hit = self.prompts.get(conf)
        if hit is None or hit[0] != stamp:
            from dsm.cli import _configured_prompts

            found = _configured_prompts(conf)
            if isinstance(found, str):
                problem = Diagnostic(conf, 1, 1, "warning", "config", found)
                hit = (stamp, None, [problem])
            else:
                hit = (stamp, found[0], found[1])
            self.prompts[conf] = hit
        return hit[1], hit[2]

    def configure(self, settings: Any) -> None:
        """Take ``includePaths``, ``modulePath`` and ``config`` (also under a ``dsm`` key)."""
        opts = settings if isinstance(settings, dict) else {}
        if isinstance(opts.get("dsm"), dict):
            opts = opts["dsm"]
        self.include_paths = _strings(opts.get("includePaths"))
        self.module_path = _strings(opts.get("modulePath"))
        config = opts.get("config")
        self.config = config if isinstance(config, str) and config else None

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text (recomputed if it is stale)."""
        text = self.text(uri)
        a = self.analyses.get(uri)
        if a is None or a.text != text:
            path = f.path_of(uri)
            names, problems = self.known_prompts(path)
            a = analyse(
                text,
                path,
                include_paths=self.include_paths,
                module_path=self.module_path,
                known_prompts=names,
            )
            a.diagnostics = problems + a.diagnostics
            self.analyses[uri] = a
        return a

    def publish(self, uri: str) -> None:
        self.pending.pop(uri, None)
        try:
            a = self.analysis(uri)
        except KeyError:  # closed meanwhile
            return
        by_path = f.to_lsp_diagnostics(a.diagnostics, f.path_of(uri))
        targets = {uri: by_path.pop(f.path_of(uri), [])}
        for path, diags in by_path.items():
            targets[f.uri_of(path)] = diags
        for stale in self.published.get(uri, set()) - set(targets):
            self.text_document_publish_diagnostics(
                t.PublishDiagnosticsParams(uri=stale, diagnostics=[])
            )
        for target, diags in targets.items():
            self.text_document_publish_diagnostics(
                t.PublishDiagnosticsParams(uri=target, diagnostics=diags)
            )
        self.published[uri] = set(targets)

    def schedule(self, uri: str, delay: float = DEBOUNCE) -> None:
        old = self.pending.pop(uri, None)
        if old is not None:
            old.cancel()
        self.pending[uri] = asyncio.get_running_loop().call_later(delay, self.publish, uri)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def build_server() -> DsmServer:
    server = DsmServer()

    @server.feature(t.INITIALIZE)
    def initialize(ls: DsmServer, params: t.InitializeParams) -> None:
        ls.configure(params.initialization_options)

    @server.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: DsmServer, params: t.DidChangeConfigurationParams) -> None:
        ls.configure(params.settings)
        ls.analyses.clear()
        ls.prompts.clear()
        for uri in list(ls.published):
            ls.schedule(uri, 0)

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DsmServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DsmServer, params: t.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DsmServer, params: t.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DsmServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        handle = ls.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        ls.analyses.pop(uri, None)
        for target in ls.published.pop(uri, {uri}):
            ls.text_document_publish_diagnostics(
                t.PublishDiagnosticsParams(uri=target, diagnostics=[])
            )

    @server.feature(
        t.TEXT_DOCUMENT_COMPLETION,
        t.CompletionOptions(trigger_characters=[">", "$", "#", "(", " "]),
    )
    def completion(ls: DsmServer, params: t.CompletionParams) -> t.CompletionList:
        uri, pos = params.text_document.uri, params.position
        return f.completion(ls.analysis(uri), ls.text(uri), pos.line, pos.character)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: DsmServer, params: t.HoverParams) -> t.Hover | None:
        uri, pos = params.text_document.uri, params.position
        return f.hover(ls.analysis(uri), ls.text(uri), pos.line, pos.character)

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: DsmServer, params: t.DefinitionParams) -> list[t.Location]:
        uri, pos = params.text_document.uri, params.position
        return f.definition(
            ls.analysis(uri), ls.text(uri), pos.line, pos.character, ls.include_paths
        )

    @server.feature(t.TEXT_DOCUMENT_REFERENCES)
    def references(ls: DsmServer, params: t.ReferenceParams) -> list[t.Location]:
        uri, pos = params.text_document.uri, params.position
        return f.references(
            ls.analysis(uri),
            pos.line,
            pos.character,
            params.context.include_declaration,
            ls.text(uri),
            ls.include_paths,
        )

    @server.feature(t.TEXT_DOCUMENT_RENAME)
    def rename(ls: DsmServer, params: t.RenameParams) -> t.WorkspaceEdit | None:
        pos = params.position
        return f.rename(
            ls.analysis(params.text_document.uri), pos.line, pos.character, params.new_name
        )

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(ls: DsmServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        return f.document_symbols(ls.analysis(params.text_document.uri))

    @server.feature(t.TEXT_DOCUMENT_FOLDING_RANGE)
    def folding(ls: DsmServer, params: t.FoldingRangeParams) -> list[t.FoldingRange]:
        return f.folding_ranges(ls.analysis(params.text_document.uri))

    @server.feature(
        t.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
        t.SemanticTokensLegend(token_types=f.TOKEN_TYPES, token_modifiers=[]),
    )
    def tokens(ls: DsmServer, params: t.SemanticTokensParams) -> t.SemanticTokens:
        uri = params.text_document.uri
        return t.SemanticTokens(data=f.semantic_tokens(ls.analysis(uri), ls.text(uri)))

    return server


def main() -> int:
    """Serve over stdin/stdout until the client exits.

    The protocol owns the real stdout; anything else printed in this process
    (a module, a warning) goes to stderr instead of corrupting the stream.
    """
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    build_server().start_io(stdin, stdout)
    return 0
