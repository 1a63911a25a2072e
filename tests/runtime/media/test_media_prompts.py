"""Prompts and prompt sets (``config.md`` CF-5, CF-8, K-10 … K-13; A-core-21 … A-core-24)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsm.runtime.media.audio import AudioFileError, write_wav
from dsm.runtime.media.prompts import (
    PromptCollection,
    PromptConfigError,
    PromptLibrary,
    PromptNotFound,
    PromptSetNotFound,
    parse_prompt_list,
    split_list,
)


def fake_loader(path: str) -> np.ndarray:
    """Audio whose single sample says which file it came from; ``bad*`` fails."""
    if "bad" in path:
        raise AudioFileError(path, "cannot open")
    return np.array([len(path)], dtype=np.int16)


def test_CF_8_prompt_list_lines_are_taken_verbatim() -> None:
    text = "# comment\n   # indented comment\n\nwelcome=/a/welcome.wav\nhello = a.wav\nx=y=z\n=only\nnoequals\na==b\n"
    assert parse_prompt_list(text) == [("welcome", "/a/welcome.wav"), ("hello ", " a.wav"), ("a", "b")]


def test_CF_5_lists_split_at_commas_without_trimming() -> None:
    assert split_list("a,b,,c") == ["a", "b", "c"]
    assert split_list("a, b") == ["a", " b"]
    assert split_list("") == []


def test_CF_8_unloadable_prompt_is_logged_and_left_undefined() -> None:
    collection = PromptCollection()
    errors = collection.load_list_text("good=g.wav\nworse=bad.wav\n", fake_loader)
    assert "good" in collection and "worse" not in collection
    assert len(errors) == 1 and "worse" in errors[0]


def write_list(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_K_10_load_prompts_fills_the_default_collection_and_later_wins(tmp_path: Path) -> None:
    first = write_list(tmp_path / "one.conf", "hello=h1.wav\nbye=b.wav\n")
    second = write_list(tmp_path / "two.conf", "hello=h22.wav\n")
    library = PromptLibrary(fake_loader)
    library.configure({"load_prompts": f"{first},{second}"})
    selection = library.selection()
    assert selection.lookup("hello").tolist() == [len("h22.wav")]
    assert selection.lookup("bye").tolist() == [len("b.wav")]
    assert selection.current_name is None


def test_K_10_real_audio_files_are_loaded_once_and_shared(tmp_path: Path) -> None:
    wav = tmp_path / "w.wav"
    write_wav(wav, np.arange(1, 9, dtype=np.int16))
    listing = write_list(tmp_path / "p.conf", f"w={wav}\n")
    library = PromptLibrary()
    library.configure({"load_prompts": listing})
    one, two = library.selection(), library.selection()
    assert one.lookup("w") is two.lookup("w")
    assert one.item("w").samples.tolist() == list(range(1, 9))


def test_K_10_unreadable_prompt_list_fails_the_configuration(tmp_path: Path) -> None:
    with pytest.raises(PromptConfigError):
        PromptLibrary(fake_loader).configure({"load_prompts": str(tmp_path / "missing.conf")})


def test_K_11_required_prompt_missing_fails(tmp_path: Path) -> None:
    listing = write_list(tmp_path / "p.conf", "a=a.wav\n")
    library = PromptLibrary(fake_loader)
    library.configure({"load_prompts": listing, "required_prompts": "a"})
    with pytest.raises(PromptConfigError, match="'b'"):
        PromptLibrary(fake_loader).configure({"load_prompts": listing, "required_prompts": "a,b"})


def test_K_12_K_13_prompt_sets_read_from_path_slash_name_without_suffix(tmp_path: Path) -> None:
    """REFERENCE QUIRK (K-12): no ``.conf`` suffix is added to the set name."""
    write_list(tmp_path / "de", "hello=de.wav\n")
    write_list(tmp_path / "fr.conf", "hello=fr.wav\n")
    library = PromptLibrary(fake_loader)
    library.configure({"prompts_sets_path": str(tmp_path), "load_prompts_sets": "de,fr"})
    assert "hello" in library.sets["de"]
    assert len(library.sets["fr"]) == 0  # file "fr" does not exist: empty set, a warning
    assert any("fr" in message for message in library.messages)


def test_K_12_empty_path_uses_the_name_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_list(tmp_path / "en", "x=x.wav\n")
    library = PromptLibrary(fake_loader)
    library.configure({"load_prompts_sets": "en"})
    assert "x" in library.sets["en"]


def make_library(tmp_path: Path) -> PromptLibrary:
    default = write_list(tmp_path / "default.conf", "hello=d.wav\nonly_default=od.wav\n")
    write_list(tmp_path / "de", "hello=de_hello.wav\n")
    library = PromptLibrary(fake_loader)
    library.configure({"load_prompts": default, "prompts_sets_path": str(tmp_path), "load_prompts_sets": "de"})
    return library


def test_A_core_24_setPrompts_switches_sets_and_unknown_set_names_the_set(tmp_path: Path) -> None:
    selection = make_library(tmp_path).selection()
    assert selection.lookup("hello").tolist() == [len("d.wav")]
    selection.select("de")
    assert selection.current_name == "de"
    assert selection.lookup("hello").tolist() == [len("de_hello.wav")]
    with pytest.raises(PromptSetNotFound) as info:
        selection.select("xx")
    assert info.value.name == "xx"


def test_A_core_21_missing_prompt_and_default_fallback(tmp_path: Path) -> None:
    selection = make_library(tmp_path).selection()
    selection.select("de")
    with pytest.raises(PromptNotFound) as info:
        selection.lookup("only_default")
    assert info.value.name == "only_default"
    assert selection.lookup("only_default", default_fallback=True).tolist() == [len("od.wav")]
    with pytest.raises(PromptNotFound):
        selection.lookup("nowhere", default_fallback=True)


def test_A_core_21_prompt_names_are_case_sensitive(tmp_path: Path) -> None:
    selection = make_library(tmp_path).selection()
    with pytest.raises(PromptNotFound):
        selection.lookup("Hello")


def test_A_core_23_looped_prompt_item(tmp_path: Path) -> None:
    item = make_library(tmp_path).selection().item("hello", loop=True)
    assert item.loop and item.kind == "prompt" and item.label == "hello"
