"""The SQLite store's own behaviour: one file, reopened, re-embedded on a model change."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from processors.memory.fakes import FakeHashEmbedder
from processors.memory.ranking import fuse
from processors.memory.sqlite_store import SqliteMemoryStore, fts_query
from processors.testing.memory import Feed, at, fact


def test_a_reopened_file_keeps_its_memories_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    store = SqliteMemoryStore(path, FakeHashEmbedder())
    Feed(store, partition=2).put(fact("t1", "acme", "phone", "1", at(1)))
    digest = store.digest()
    store.close()
    again = SqliteMemoryStore(path, FakeHashEmbedder())
    assert again.digest() == digest
    assert again.positions() == {2: 1}
    again.close()


def test_another_model_re_embeds_instead_of_mixing_spaces(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    store = SqliteMemoryStore(path, FakeHashEmbedder(32))
    Feed(store).put(
        *(fact("t1", f"v{i}", "website", f"https://v{i}.test", at(1)) for i in range(3))
    )
    store.close()

    wider = FakeHashEmbedder(48)
    reopened = SqliteMemoryStore(path, wider)
    rows = reopened._db.execute("select distinct model, dimension from vectors").fetchall()
    assert rows == [(wider.name, 48)]
    assert reopened.reembed_stale() == 0
    fresh = SqliteMemoryStore(tmp_path / "fresh.sqlite", wider)
    Feed(fresh).put(
        *(fact("t1", f"v{i}", "website", f"https://v{i}.test", at(1)) for i in range(3))
    )
    assert reopened.digest() == fresh.digest()  # as if built with the new model from the start
    assert reopened.search("t1", "v1 website", k=1)[0].record.entity_id == "v1"


def test_user_text_never_reaches_the_fts_query_syntax() -> None:
    assert fts_query('Acmé" OR tenant_id:* NEAR(') == '"acme" OR "id" OR "near" OR "or" OR "tenant"'
    assert fts_query("  ---  ") is None


def test_reciprocal_rank_fusion_rewards_agreement_and_breaks_ties_by_key() -> None:
    fused = fuse([["a", "b", "c"], ["b", "d"]])
    assert [key for key, _ in fused] == ["b", "a", "d", "c"]
    assert fuse([["y"], ["x"]]) == [("x", 1 / 61), ("y", 1 / 61)]


class CountingEmbedder(FakeHashEmbedder):
    """The fake embedder, counting the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return super().embed(texts)


def test_a_rebuild_reuses_the_vectors_of_the_store_it_replaces(tmp_path: Path) -> None:
    records = [fact("t1", f"v{i}", "website", f"https://v{i}.test", at(1)) for i in range(4)]
    old = SqliteMemoryStore(tmp_path / "old.sqlite", FakeHashEmbedder())
    Feed(old).put(*records[:3])
    old.close()
    counting = CountingEmbedder()
    rebuilt = SqliteMemoryStore(tmp_path / "new.sqlite", counting, reuse=tmp_path / "old.sqlite")
    Feed(rebuilt).put(*records)
    assert counting.texts == [records[3].text()]  # only the new text was embedded
    scratch = SqliteMemoryStore(tmp_path / "scratch.sqlite", FakeHashEmbedder())
    Feed(scratch).put(*records)
    assert rebuilt.digest() == scratch.digest()
