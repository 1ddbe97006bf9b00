"""qa as an MCP server (Model Context Protocol, the official `mcp` SDK): tools an agent can
call to ask the articles and get quotes it can trust.

`qa mcp --index PATH` serves it over stdio; `qa serve` also serves it over streamable HTTP
at /mcp, behind the same credentials as /api. Thin over `QA`, like every shell: the
answers are `qa ask`'s, their quotes checked against the articles before they are returned.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

INSTRUCTIONS = (
    "qa answers questions from a local collection of articles. Every quote it returns is the "
    "articles' exact text at the given character offsets, checked before it is returned; cite "
    "quotes as they are. When qa refuses, the articles do not answer the question: say so "
    "rather than answering from elsewhere."
)


class Turn(BaseModel):
    question: str
    answer: str = ""


class CitationOut(BaseModel):
    n: int = Field(description="the number the answer text uses for this quote, [n]")
    quote: str = Field(description="the article's exact words: read_article(source, start, end) returns them")
    source: str = Field(description="the article's path in the corpus")
    title: str
    start: int = Field(description="character offset of the quote in the article's text")
    end: int
    confidence: float = Field(description="qa's calibrated probability that this quote answers")


class ShortAnswerOut(BaseModel):
    text: str = Field(description="the few words that answer, inside quote 1: text[start:end] of its article")
    start: int
    end: int
    confidence: float


class AskResult(BaseModel):
    answer: str = Field(description="the answer as a person reads it: numbered quotes, or a refusal")
    refused: bool = Field(description="true: the articles do not answer this question")
    uncertain: bool = Field(description="true: answered with a caveat, the quotes may not answer directly")
    short_answer: ShortAnswerOut | None = None
    citations: list[CitationOut]


class PassageOut(BaseModel):
    source: str
    title: str
    start: int
    end: int
    text: str = Field(description="the passage's exact text at [start, end) of its article")
    score: float


class SearchResult(BaseModel):
    passages: list[PassageOut]


class ArticleOut(BaseModel):
    source: str
    title: str
    characters: int


class ArticleList(BaseModel):
    articles: list[ArticleOut]


class ArticleText(BaseModel):
    source: str
    title: str
    start: int
    end: int
    length: int = Field(description="the article's whole length in characters")
    text: str


def build_server(qa):
    """The MCP server over `qa` (a `qa.QA`; a long-lived one follows new index versions)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from ..config import __version__

    server = MCPServer("qa", instructions=INSTRUCTIONS, version=__version__)

    @server.tool(
        description=(
            "Ask the articles a question. Returns an answer made of verbatim quotes with citations "
            "(source, title, character offsets, confidence), each checked against the article before "
            "it is returned; `refused` true means the articles do not answer it. `conversation`: the "
            "earlier turns, oldest first, so a follow-up question ('and when?') is understood."
        )
    )
    def ask(question: str, conversation: list[Turn] | None = None) -> AskResult:
        history = [(t.question, t.answer) for t in conversation or []]
        try:
            answer = qa.ask(question, history=history, mode="extractive")
        except ValueError as exc:  # an empty or overlong question
            raise ToolError(str(exc)) from None
        short = answer.short_answer
        return AskResult(
            answer=answer.answer,
            refused=answer.refused,
            uncertain=answer.uncertain,
            short_answer=ShortAnswerOut(text=short.text, start=short.start, end=short.end, confidence=short.confidence)
            if short
            else None,
            citations=[
                CitationOut(
                    n=c.n, quote=c.quote, source=c.source, title=c.title, start=c.start, end=c.end, confidence=c.score
                )
                for c in answer.citations
            ],
        )

    @server.tool(
        description=(
            "The passages qa would read for a query, best first (dense and keyword search fused). "
            "Each passage's text is the article's exact text at its offsets. Use `ask` for an answer."
        )
    )
    def search(query: str, k: int = 5) -> SearchResult:
        try:
            passages = qa.search(query, k=max(1, min(k, 50)))
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        return SearchResult(
            passages=[
                PassageOut(source=p.source, title=p.title, start=p.start, end=p.end, text=p.text, score=p.score)
                for p in passages
            ]
        )

    @server.tool(description="Every article in the index: its source path, title and length in characters.")
    def list_articles() -> ArticleList:
        return ArticleList(
            articles=[ArticleOut(source=d.source, title=d.title, characters=d.chars) for d in qa.documents()]
        )

    @server.tool(
        description=(
            "The text of one article (`source` as list_articles or a citation names it), whole or "
            "characters [start, end): read around a quote, or check one."
        )
    )
    def read_article(source: str, start: int | None = None, end: int | None = None) -> ArticleText:
        found = qa.article(source)
        if found is None:
            raise ToolError(f"no article {source!r} in the index: list_articles names them")
        title, text = found
        a = 0 if start is None else max(0, min(start, len(text)))
        b = len(text) if end is None else max(a, min(end, len(text)))
        return ArticleText(source=source, title=title, start=a, end=b, length=len(text), text=text[a:b])

    return server


def run_stdio(qa) -> None:
    build_server(qa).run("stdio")
