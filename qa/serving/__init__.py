"""Serving: the HTTP server behind `qa serve`: authentication, the JSON API, the
OpenAI-compatible door and MCP, mounted beside the Gradio chat (qa/ui). Thin over `QA`.
"""
