"""Evaluation: `qa eval`, the labelled suites and SQuAD's answer metrics. A shell over `QA`."""
