"""Training: how qa makes the reader it ships (`qa reader train`, docs/reader.md). A shell
over the whole pipeline, like evaluation: it may import anything below it; nothing
imports it but the CLI.
"""
