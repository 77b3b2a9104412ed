-- Counts kept as deliveries are written (counts.py), so the console's overview reads a few
-- thousand kept rows instead of counting the whole table on every view (bench/console_pages.py).
--
--   delivery_count_deltas  append-only: what each statement on deliveries changed, aggregated.
--                          Writers only ever INSERT here: no row is contended by two writers
--                          (replicas, the group-committing writer), so no lock waits, no deadlocks.
--   delivery_counts        the current number of deliveries per (kind, state, reason, school),
--                          as of the last fold; reason_code '' stands for none.
--   delivery_flow          entries into a state per hour and school, as of the last fold: the
--                          console's "1 jam" and "1 hari". Kept for about two days.
--
-- fold_delivery_counts() moves the deltas into the other two (every replica calls it every few
-- seconds); a read adds the deltas not folded yet, so a count is exact right after a write.

-- No delivery is written between the triggers starting to count and the backfill below.
LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE delivery_count_deltas (
    kind        text        NOT NULL,
    state       text        NOT NULL,
    reason_code text        NOT NULL,
    npsn        text        NOT NULL,
    hour        timestamptz NOT NULL,
    n           bigint      NOT NULL,  -- the change of the current count
    entered     bigint      NOT NULL   -- deliveries that entered this state (inserted or moved in)
);

CREATE TABLE delivery_counts (
    kind        text   NOT NULL,
    state       text   NOT NULL,
    reason_code text   NOT NULL,
    npsn        text   NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (kind, state, reason_code, npsn)
);

CREATE TABLE delivery_flow (
    hour    timestamptz NOT NULL,
    kind    text        NOT NULL,
    state   text        NOT NULL,
    npsn    text        NOT NULL,
    entered bigint      NOT NULL,
    PRIMARY KEY (hour, kind, state, npsn)
);

-- Statement-level triggers with transition tables: one INSERT of aggregated rows per statement,
-- however many deliveries it wrote (a batch of 500 is one statement). PostgreSQL allows
-- transition tables only on a trigger of one event, hence three. SET search_path: the trigger
-- runs with the writer's search path, the tables are this schema's.
CREATE FUNCTION delivery_counts_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO delivery_count_deltas (kind, state, reason_code, npsn, hour, n, entered)
    SELECT kind, state, coalesce(reason_code, ''), npsn, date_trunc('hour', now()),
           count(*), count(*)
      FROM new_rows
     GROUP BY kind, state, coalesce(reason_code, ''), npsn;
    RETURN NULL;
END;
$$;

CREATE FUNCTION delivery_counts_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- Only rows whose counted key changed: most updates (an attempt's times, a claim's lease)
    -- move nothing. A state change is an entry into the new state.
    INSERT INTO delivery_count_deltas (kind, state, reason_code, npsn, hour, n, entered)
    SELECT kind, state, reason_code, npsn, date_trunc('hour', now()), sum(n), sum(entered)
      FROM (
        SELECT o.kind, o.state, coalesce(o.reason_code, '') AS reason_code, o.npsn,
               -1 AS n, 0 AS entered
          FROM old_rows o JOIN new_rows x USING (delivery_id)
         WHERE (o.kind, o.state, o.reason_code, o.npsn)
               IS DISTINCT FROM (x.kind, x.state, x.reason_code, x.npsn)
        UNION ALL
        SELECT x.kind, x.state, coalesce(x.reason_code, ''), x.npsn,
               1, CASE WHEN o.state IS DISTINCT FROM x.state THEN 1 ELSE 0 END
          FROM new_rows x JOIN old_rows o USING (delivery_id)
         WHERE (o.kind, o.state, o.reason_code, o.npsn)
               IS DISTINCT FROM (x.kind, x.state, x.reason_code, x.npsn)
      ) moved
     GROUP BY kind, state, reason_code, npsn
    HAVING sum(n) <> 0 OR sum(entered) <> 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION delivery_counts_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO delivery_count_deltas (kind, state, reason_code, npsn, hour, n, entered)
    SELECT kind, state, coalesce(reason_code, ''), npsn, date_trunc('hour', now()), -count(*), 0
      FROM old_rows
     GROUP BY kind, state, coalesce(reason_code, ''), npsn;
    RETURN NULL;
END;
$$;

CREATE FUNCTION delivery_counts_truncated() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM delivery_count_deltas;
    DELETE FROM delivery_counts;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deliveries_counted_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_inserted();
-- delivery_id never changes (it is the slot's key), so old and new rows pair on it.
CREATE TRIGGER deliveries_counted_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_updated();
CREATE TRIGGER deliveries_counted_delete AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_deleted();
CREATE TRIGGER deliveries_counted_truncate AFTER TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_truncated();

-- Move every delta into the totals and the hourly flow; how many deltas it moved. Safe when
-- replicas run it at once: a delta is deleted by exactly one fold (a second fold's DELETE waits
-- for the first's and then finds the row gone, so skips it), and the totals row it adds to is
-- upserted in that same transaction. A delta inserted meanwhile is the next fold's.
CREATE FUNCTION fold_delivery_counts() RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    folded bigint;
BEGIN
    WITH moved AS (
        DELETE FROM delivery_count_deltas RETURNING *
    ), totals AS (
        INSERT INTO delivery_counts AS t (kind, state, reason_code, npsn, n)
        SELECT kind, state, reason_code, npsn, sum(n)
          FROM moved GROUP BY kind, state, reason_code, npsn HAVING sum(n) <> 0
        ON CONFLICT (kind, state, reason_code, npsn) DO UPDATE SET n = t.n + EXCLUDED.n
    ), flow AS (
        INSERT INTO delivery_flow AS f (hour, kind, state, npsn, entered)
        SELECT hour, kind, state, npsn, sum(entered)
          FROM moved GROUP BY hour, kind, state, npsn HAVING sum(entered) <> 0
        ON CONFLICT (hour, kind, state, npsn) DO UPDATE SET entered = f.entered + EXCLUDED.entered
    )
    SELECT count(*) INTO folded FROM moved;
    IF folded > 0 THEN
        -- A school whose last delivery left a state keeps no row for it.
        DELETE FROM delivery_counts WHERE n = 0;
    END IF;
    DELETE FROM delivery_flow WHERE hour < now() - interval '2 days';
    RETURN folded;
END;
$$;

-- The deliveries present now. Their entry into their current state is taken to be their last
-- change (updated_at): the best this table knows; only the last two days' are kept.
INSERT INTO delivery_counts (kind, state, reason_code, npsn, n)
SELECT kind, state, coalesce(reason_code, ''), npsn, count(*)
  FROM deliveries
 GROUP BY kind, state, coalesce(reason_code, ''), npsn;

INSERT INTO delivery_flow (hour, kind, state, npsn, entered)
SELECT date_trunc('hour', updated_at), kind, state, npsn, count(*)
  FROM deliveries
 WHERE updated_at >= now() - interval '2 days'
 GROUP BY date_trunc('hour', updated_at), kind, state, npsn;

-- The Tertahan page (GET /deliveries/parked/groups): parked deliveries by reason and school,
-- answered from this index alone rather than from the wide rows.
CREATE INDEX deliveries_parked ON deliveries (reason_code, npsn) WHERE state = 'PARKED';
