"""Payload models of every Kinerja event, one module per producing service.

Payloads ignore unknown fields so that additive changes never break a consumer; a change that
would break one is a new major topic (``.v2``), never an edit (see docs/consuming-predikat.md).
"""
