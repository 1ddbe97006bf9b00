"""Search: the passages a question reads first, from the store's dense and lexical
indexes fused and diversified.
"""
