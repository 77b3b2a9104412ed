-- A pause of every delivery to e-Kinerja (BKN's announced maintenance), read by every replica
-- (pause.py). At most one row: present = paused, until `until` if it is set (then deliveries
-- resume by themselves); resuming deletes it. While paused, deliveries wait where they are, as
-- under an open breaker, spending no attempt.
CREATE TABLE delivery_pause (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    reason     text NOT NULL,
    paused_by  text NOT NULL,
    paused_at  timestamptz NOT NULL DEFAULT now(),
    until      timestamptz
);

