"""LangChain adapter: qa's hybrid retriever as a `langchain_core` `BaseRetriever`."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class QARetriever(BaseRetriever):
    """Returns passages as `Document`s whose metadata carries source, title and offsets;
    `k` passages, or as many as `invoke(query, k=N)` asks for."""

    qa: Any
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return self._documents(query, k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """`ainvoke(query, k=N)` as `invoke` takes it (LangChain's default async path has no `k`);
        the search runs in a worker thread, off the event loop."""
        import asyncio

        return await asyncio.to_thread(self._documents, query, k)

    def _documents(self, query: str, k: int | None) -> list[Document]:
        return [
            Document(
                page_content=p.text,
                metadata={
                    "source": p.source,
                    "title": p.title,
                    "start": p.start,
                    "end": p.end,
                    "chunk_id": p.chunk_id,
                    "score": p.score,
                },
            )
            for p in self.qa.search(query, k=self.k if k is None else k)
        ]
