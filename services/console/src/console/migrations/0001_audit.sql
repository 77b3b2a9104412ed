-- Every action taken from the console: who, when, what, why, and how it ended.
CREATE TABLE audit_log (
    id            bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_subject text        NOT NULL,
    actor_role    text        NOT NULL,
    actor_scope   text,
    action        text        NOT NULL,
    target        jsonb       NOT NULL DEFAULT '{}',
    reason        text,
    result        text        NOT NULL,
    detail        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- DLQ records an operator discarded: the explorer no longer lists them (the log keeps them).
CREATE TABLE dlq_discards (
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    audit_id   bigint      NOT NULL REFERENCES audit_log (id),
    PRIMARY KEY (topic, partition, "offset")
);

-- bkn-sync's status events as they pass: each delivery's history, every state it went through.
CREATE TABLE delivery_history (
    event_id        uuid        PRIMARY KEY,
    delivery_id     text        NOT NULL,
    nip             text        NOT NULL,
    kind            text        NOT NULL,
    period_id       text        NOT NULL,
    version         integer     NOT NULL,
    state           text        NOT NULL,
    attempts        integer     NOT NULL,
    reason_code     text,
    reason          text,
    next_attempt_at timestamptz,
    at              timestamptz NOT NULL,
    trace_id        text
);
CREATE INDEX delivery_history_delivery ON delivery_history (delivery_id, at);
