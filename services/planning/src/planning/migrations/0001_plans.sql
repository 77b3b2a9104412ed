-- One plan (SKP) per teacher and period; there is no "deleted" state, so every row is live (V-09).
CREATE TABLE plans (
    plan_id       text PRIMARY KEY,
    nip           text        NOT NULL,
    npsn          text        NOT NULL,
    period_id     text        NOT NULL,
    rules_version integer     NOT NULL,
    state         text        NOT NULL,
    version       integer     NOT NULL,
    content       jsonb       NOT NULL,
    atasan_nip    text,
    return_note   text,
    approved_by   text,
    submitted_at  timestamptz,
    approved_at   timestamptz,
    agreed_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plans_one_per_period UNIQUE (nip, period_id)
);
-- The Kepala Sekolah's queue: plans waiting for them.
CREATE INDEX plans_atasan_state ON plans (atasan_nip, state);

-- Who moved a plan where and why: the audit trail a helpdesk needs ("who returned my plan?").
CREATE TABLE plan_transitions (
    plan_id     text        NOT NULL REFERENCES plans (plan_id),
    version     integer     NOT NULL,
    state       text        NOT NULL,
    actor       text        NOT NULL,
    note        text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, version)
);
