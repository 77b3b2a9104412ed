-- The call caps towards e-Kinerja (docs/domain.md §8), shared by every replica (callcap.py).
-- One row per scope: 'total', and 'instansi:<kode_wilayah>' for the teachers of one instansi.
--   next_at  the earliest time the next call may be let in (its turn in the scope's queue)
--   left_at  when the scope's last call left (instansi rows: the strict spacing)
CREATE TABLE call_clock (
    scope   text PRIMARY KEY,
    next_at timestamptz NOT NULL DEFAULT '-infinity',
    left_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- A call's turn in its instansi's queue: when it may ask for a departure. Each call moves the
-- queue on by the instansi's spacing, so callers wait their turn without holding the total's.
-- {turn, now} in epoch seconds of the database's clock (now: as the function ends, which the
-- caller uses to map the answer onto its own clock).
CREATE FUNCTION call_turn(p_instansi text, p_spacing float8)
RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE
    turn timestamptz;
    now_ timestamptz := clock_timestamp();
BEGIN
    IF p_instansi IS NULL OR p_spacing <= 0 THEN
        RETURN ARRAY[extract(epoch FROM now_), extract(epoch FROM clock_timestamp())];
    END IF;
    INSERT INTO call_clock (scope) VALUES ('instansi:' || p_instansi) ON CONFLICT DO NOTHING;
    UPDATE call_clock SET next_at = greatest(next_at, now_) + make_interval(secs => p_spacing)
        WHERE scope = 'instansi:' || p_instansi
        RETURNING next_at - make_interval(secs => p_spacing) INTO turn;
    RETURN ARRAY[extract(epoch FROM turn), extract(epoch FROM clock_timestamp())];
END;
$$;

-- The call's departure: no sooner than the total's spacing after the call before it, and (for
-- an instansi) its spacing after that instansi's last call left. {departure, now} as above.
-- Rows are locked in scope order, so two callers never deadlock.
CREATE FUNCTION call_departure(p_total_spacing float8, p_instansi text, p_spacing float8)
RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE
    instansi text := CASE WHEN p_spacing > 0 THEN 'instansi:' || p_instansi END;
    departure timestamptz := clock_timestamp();
    total_next timestamptz;
    instansi_left timestamptz;
BEGIN
    IF p_total_spacing > 0 THEN
        INSERT INTO call_clock (scope) VALUES ('total') ON CONFLICT DO NOTHING;
    END IF;
    IF instansi IS NOT NULL THEN
        INSERT INTO call_clock (scope) VALUES (instansi) ON CONFLICT DO NOTHING;
    END IF;
    PERFORM 1 FROM call_clock WHERE scope IN ('total', instansi) ORDER BY scope FOR UPDATE;
    IF p_total_spacing > 0 THEN
        SELECT next_at INTO total_next FROM call_clock WHERE scope = 'total';
        departure := greatest(departure, total_next);
    END IF;
    IF instansi IS NOT NULL THEN
        SELECT left_at + make_interval(secs => p_spacing) INTO instansi_left
            FROM call_clock WHERE scope = instansi;
        departure := greatest(departure, instansi_left);
        UPDATE call_clock SET left_at = departure WHERE scope = instansi;
    END IF;
    IF p_total_spacing > 0 THEN
        UPDATE call_clock SET next_at = departure + make_interval(secs => p_total_spacing)
            WHERE scope = 'total';
    END IF;
    RETURN ARRAY[extract(epoch FROM departure), extract(epoch FROM clock_timestamp())];
END;
$$;
