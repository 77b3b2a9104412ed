-- Outbox rows Kafka refuses for good (a record too large, an invalid or long-unknown topic, a
-- header that is not text) are set aside by the relay instead of being retried forever; the
-- later rows of the same topic and key wait behind them, everything else is published. An
-- operator retries or discards them (kinerja-outbox; docs/adr/0003-set-aside-outbox-rows.md).
ALTER TABLE outbox
    ADD COLUMN set_aside_at    timestamptz,
    ADD COLUMN set_aside_code  text,
    ADD COLUMN set_aside_error text,
    ADD COLUMN set_aside_count integer NOT NULL DEFAULT 0;

-- The relay's queue: unpublished rows not set aside, in id order. (A set-aside row is never
-- published: a retry clears set_aside_at first.)
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL AND set_aside_at IS NULL;
DROP INDEX outbox_unpublished;
-- "Is an earlier row of this topic and key set aside?": then the row is held.
CREATE INDEX outbox_set_aside ON outbox (topic, key, id) WHERE set_aside_at IS NOT NULL;

-- Every set-aside, retry and discard: when, who (the relay or a named operator, and the
-- database role), why. A discarded row leaves the outbox without ever being published, so its
-- record (value and headers) is kept here.
CREATE TABLE outbox_set_aside_log (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    action    text        NOT NULL CHECK (action IN ('set_aside', 'retry', 'discard')),
    actor     text        NOT NULL,
    db_user   text        NOT NULL DEFAULT session_user,
    reason    text        NOT NULL,
    outbox_id bigint      NOT NULL,
    event_id  uuid        NOT NULL,
    topic     text        NOT NULL,
    key       text        NOT NULL,
    code      text,
    value     bytea,
    headers   jsonb
);
CREATE INDEX outbox_set_aside_log_row ON outbox_set_aside_log (outbox_id, id);
