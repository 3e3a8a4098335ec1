"""The SQLite store's two retrievers and the filter they share: nearest vectors (sqlite-vec's
``vec0`` index, then exact cosine) and keywords (FTS5's BM25), each filtered by the tenant in
its own query. The store fuses them (:func:`processors.memory.ranking.fuse`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from processors.memory.ranking import terms
from processors.memory.records import EntityKind, MemoryKind, to_millis

COARSE_FACTOR, COARSE_MIN = 10, 200  # binary-quantized candidates for the exact re-rank
KNN_LIMIT = 4096  # the largest k sqlite-vec's vec0 answers in one KNN query
COMMON_SHARE, COMMON_MIN = 0.05, 1000  # a query term in more documents than this is common


def fts_query(text: str) -> str | None:
    """The terms of ``text`` as an FTS5 query (each quoted, joined by OR): user text never
    reaches FTS5's query syntax. ``None`` when there is no term."""
    words = terms(text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def filters(
    tenant_id: str,
    kinds: Sequence[MemoryKind] | None,
    entity_kind: EntityKind | None,
    as_of: datetime,
    *,
    by_rowid: bool = False,
) -> tuple[str, list[Any]]:
    """The WHERE clause every read shares: the tenant first, always; memories valid at
    ``as_of``. ``by_rowid``: rows are found by rowid, so the tenant's index must not be chosen
    to scan (``+`` keeps it off)."""
    clauses = ["+m.tenant_id = ?" if by_rowid else "m.tenant_id = ?"]
    params: list[Any] = [tenant_id]
    if kinds is not None:
        if not kinds:
            clauses.append("0")
        else:
            clauses.append(f"m.kind in ({', '.join('?' for _ in kinds)})")
            params.extend(kinds)
    if entity_kind is not None:
        clauses.append("m.entity_kind = ?")
        params.append(entity_kind)
    moment = to_millis(as_of)
    clauses.append("m.valid_from <= ? and (m.ends_at is null or m.ends_at > ?)")
    params.extend([moment, moment])
    return " and ".join(clauses), params


def informative(db: Any, words: list[str]) -> list[str]:
    """The query terms worth a keyword search: a term found in more than ``COMMON_SHARE`` of
    all documents (and more than ``COMMON_MIN``) ranks little under BM25 and costs a scan of
    its documents, so it is dropped — unless every term is common, then the rarest stays.
    Small stores keep every term."""
    if len(words) <= 1:
        return words
    total = int(db.execute("select count(*) from memories").fetchone()[0])
    limit = max(COMMON_SHARE * total, COMMON_MIN)
    if total <= limit:
        return words
    counts = {}
    for word in words:
        row = db.execute("select doc from keywords_vocab where term = ?", (word,)).fetchone()
        counts[word] = 0 if row is None else int(row[0])
    kept = [w for w in words if counts[w] <= limit]
    return kept or [min(words, key=lambda w: (counts[w], w))]


def by_keyword(reader: Any, match: str, where: str, params: list[Any], pool: int) -> list[str]:
    """The ``pool`` best keys by BM25 (ties by key) among the filtered memories."""
    return [
        row[0]
        for row in reader.execute(
            "select m.key from keywords cross join memories m on m.rowid = keywords.rowid "
            f"where keywords match ? and {where} order by bm25(keywords), m.key limit ?",
            (match, *params, pool),
        )
    ]


def nearest(
    db: Any,
    vector: bytes,
    *,
    binary: bool,
    tenant_id: str,
    kinds: Sequence[MemoryKind] | None,
    entity_kind: EntityKind | None,
    as_of: datetime,
    pool: int,
) -> list[str]:
    """The ``pool`` nearest keys, in two stages: the nearest ``COARSE_FACTOR * pool`` (at most
    ``KNN_LIMIT``) by Hamming distance in the binary vec0 index (filtered there by tenant — its
    partition —, kind, entity kind and validity), then exact cosine over those float vectors,
    through the same WHERE as every read. Exact whenever the tenant's matching memories are
    fewer than the candidates."""
    moment = to_millis(as_of)
    clauses = ["k = ?", "tenant_id = ?", "valid_from <= ?", "ends_at > ?"]
    candidates = max(COARSE_FACTOR * pool, COARSE_MIN) if binary else pool
    values: list[Any] = [min(candidates, KNN_LIMIT), tenant_id, moment, moment]
    if kinds is not None and len(set(kinds)) == 1:
        clauses.append("kind = ?")
        values.append(kinds[0])
    if entity_kind is not None:
        clauses.append("entity_kind = ?")
        values.append(entity_kind)
    probe = "vec_quantize_binary(?)" if binary else "?"
    rowids = [
        row[0]
        for row in db.execute(
            f"select rowid from vec_index where {' and '.join(clauses)} and "
            f"embedding match {probe} order by distance",
            [*values, vector],
        )
    ]
    # exact cosine over the candidates, through the WHERE every read shares (the tenant
    # column unindexed there: the candidates' rowids are the way in)
    where, params = filters(tenant_id, kinds, entity_kind, as_of, by_rowid=True)
    return [
        row[0]
        for row in db.execute(
            "select m.key from memories m join vectors v on v.key = m.key "
            f"where m.rowid in (select value from json_each(?)) and {where} "
            "order by vec_distance_cosine(v.embedding, ?), m.key limit ?",
            (json.dumps(rowids), *params, vector, pool),
        )
    ]
