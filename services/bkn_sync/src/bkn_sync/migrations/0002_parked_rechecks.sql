-- A parked delivery whose cause lies outside Kinerja is checked with e-Kinerja again on a
-- schedule counted from when it was parked (parked_at); recheck_at is when its next check is
-- due, or, while a check is out, when it may be taken again.
ALTER TABLE deliveries
    ADD COLUMN parked_at  timestamptz,
    ADD COLUMN recheck_at timestamptz;

-- The W3C trace context of the record that brought the current version: a scheduled check or an
-- attempt brought forward after an outage joins the trace of the request that caused it.
ALTER TABLE deliveries ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}';

-- The poller's query: due checks of parked deliveries, the longest due first.
CREATE INDEX deliveries_recheck ON deliveries (recheck_at) WHERE state = 'PARKED';

-- Deliveries parked before this migration for a cause outside Kinerja (domain/classify.py
-- RECHECKED) get one check soon; their schedule then counts from when they were parked.
UPDATE deliveries
   SET parked_at = updated_at, recheck_at = now()
 WHERE state = 'PARKED'
   AND reason_code IN ('BKN-E01', 'BKN-E02', 'BKN-E03', 'BKN-E04', 'BKN-E05', 'BKN-E06', 'BKN-E09');
