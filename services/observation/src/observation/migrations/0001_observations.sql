-- One observation per teacher and period (DOMAIN.md §2.3): the row itself is the live schedule,
-- so a teacher can never hold two. ``revision`` is the optimistic version every change bumps.
CREATE TABLE observations (
    nip             text        NOT NULL,
    period_id       text        NOT NULL,
    observation_id  text        NOT NULL UNIQUE,
    npsn            text        NOT NULL,
    plan_id         text        NOT NULL,
    plan_version    integer     NOT NULL,
    sub_indikator   text        NOT NULL,
    observer_nip    text,
    state           text        NOT NULL,
    revision        integer     NOT NULL,
    scheduled_at    timestamptz,
    rubric_scores   jsonb       NOT NULL DEFAULT '{}',
    notes           text,
    practice_rating text,
    conducted_at    timestamptz,
    feedback        text,
    feedback_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id)
);
-- The observer's live schedules, for the one-hour slot check.
CREATE INDEX observations_observer_slots ON observations (observer_nip, scheduled_at)
    WHERE state = 'DIJADWALKAN';

-- Every schedule and reschedule, kept for audit (rescheduling is unlimited but audited).
CREATE TABLE observation_schedule_history (
    id           bigserial   PRIMARY KEY,
    nip          text        NOT NULL,
    period_id    text        NOT NULL,
    revision     integer     NOT NULL,
    kind         text        NOT NULL,
    scheduled_at timestamptz NOT NULL,
    previous_at  timestamptz,
    reason       text,
    by_nip       text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    FOREIGN KEY (nip, period_id) REFERENCES observations (nip, period_id),
    UNIQUE (nip, period_id, revision)
);
