CREATE TABLE assessments (
    nip                  text        NOT NULL,
    period_id            text        NOT NULL,
    npsn                 text        NOT NULL,
    plan_id              text        NOT NULL,
    atasan_nip           text        NOT NULL,
    state                text        NOT NULL,
    practice_rating      text        NOT NULL,
    hasil_kerja          text,
    perilaku_kerja       text,
    recommended_predikat text,
    behaviours           jsonb,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id)
);
CREATE INDEX assessments_atasan ON assessments (atasan_nip, period_id);
