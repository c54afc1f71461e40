"""Query embeddings under concurrency: the proxy embeds one query per request from a thread
pool, and batching them must not mix up whose vector is whose."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rag.embeddings import embed_documents, embed_query


def test_concurrent_queries_each_get_their_own_vector():
    queries = [
        f"Where does {name} keep the brass key?"
        for name in ["Dray", "Benna", "Mossy", "the Auditor", "Sol", "the Warden", "Aurek", "Toby"]
    ]
    expected = embed_documents(queries)
    with ThreadPoolExecutor(len(queries)) as pool:
        got = list(pool.map(embed_query, queries))
    for vector, reference in zip(got, expected, strict=True):
        assert np.allclose(vector, reference, atol=1e-5)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
