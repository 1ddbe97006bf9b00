"""Ingestion: finding the articles in a corpus folder, reading each file by its format, and
cutting the text into sentences and passages. Plain text in, `Document`s and chunks out;
no model, no index.
"""
