"""Indexing: one build, from a corpus folder to a published index version: which files
changed, preparing their documents (chunks and vectors, locally or on Ray), writing them
through the store's one writer, and watching the folder for more.
"""
