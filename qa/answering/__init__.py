"""Answering: from passages to an answer. Score every candidate sentence (qa's own signals
and the reader), refuse or cite, cut verbatim quotes, present them; follow-up questions,
written answers from a language model with every quote re-verified, and the experimental
verifier.
"""
