-- One row per record slot in e-Kinerja (kind, NIP, period) holding its current version.
CREATE TABLE deliveries (
    delivery_id      text        PRIMARY KEY,
    kind             text        NOT NULL,
    nip              text        NOT NULL,
    npsn             text        NOT NULL,
    period_id        text        NOT NULL,
    version          integer     NOT NULL,
    idempotency_key  uuid        NOT NULL,
    state            text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    -- Bumped whenever a retry-tier record is staged; a tier record with another value is stale.
    retry_seq        integer     NOT NULL DEFAULT 0,
    retry_tier       integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    reason_code      text,
    reason           text,
    remedy           text,
    actor            text,
    first_error      text,
    last_error       text,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    body             jsonb       NOT NULL,
    -- The record as it arrived, replayed unchanged onto the retry tiers and the DLQ.
    source_record    bytea       NOT NULL,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, nip, period_id)
);
CREATE INDEX deliveries_nip ON deliveries (nip);
CREATE INDEX deliveries_state ON deliveries (state, reason_code);
CREATE INDEX deliveries_npsn ON deliveries (npsn, period_id);
