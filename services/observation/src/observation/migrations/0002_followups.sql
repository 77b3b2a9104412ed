-- The follow-up of an observation (DOMAIN.md §2.4); opened when the feedback is given.
CREATE TABLE followups (
    nip            text        NOT NULL,
    period_id      text        NOT NULL,
    state          text        NOT NULL,
    revision       integer     NOT NULL,
    actions        jsonb       NOT NULL DEFAULT '[]',
    reflection     text,
    reflected_at   timestamptz,
    review_comment text,
    reviewed_by    text,
    reviewed_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id),
    FOREIGN KEY (nip, period_id) REFERENCES observations (nip, period_id)
);
