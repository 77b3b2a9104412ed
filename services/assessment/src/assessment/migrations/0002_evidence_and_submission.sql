-- The assessment is now folded from the agreed plan and four kinds of evidence that may arrive
-- in any order; a row may exist before its plan (evidence waiting), so plan facts are nullable.
ALTER TABLE assessments
    ALTER COLUMN npsn DROP NOT NULL,
    ALTER COLUMN plan_id DROP NOT NULL,
    ALTER COLUMN atasan_nip DROP NOT NULL,
    ALTER COLUMN practice_rating DROP NOT NULL,
    ADD COLUMN plan_version          integer,
    ADD COLUMN plan_agreed           boolean     NOT NULL DEFAULT false,
    ADD COLUMN ever_agreed           boolean     NOT NULL DEFAULT false,
    ADD COLUMN plan_occurred_at      timestamptz,
    ADD COLUMN rated_plan_version    integer,
    ADD COLUMN rated_by              text,
    ADD COLUMN rated_at              timestamptz,
    ADD COLUMN reflection_quality    text,
    ADD COLUMN follow_up_effort      text,
    ADD COLUMN followup_missing      boolean,
    ADD COLUMN hk_derived            text,
    ADD COLUMN hk_adjustment_reason  text,
    ADD COLUMN submitted             boolean     NOT NULL DEFAULT false,
    ADD COLUMN excluded_reason       text;

-- Rows written by the template (observation only) become observation evidence below.
CREATE TABLE evidence (
    nip         text        NOT NULL,
    period_id   text        NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    text        NOT NULL,
    data        jsonb       NOT NULL,
    PRIMARY KEY (nip, period_id, kind)
);
INSERT INTO evidence (nip, period_id, kind, occurred_at, event_id, data)
SELECT nip, period_id, 'OBSERVATION', updated_at, 'migrated',
       jsonb_build_object('practice_rating', practice_rating)
FROM assessments WHERE practice_rating IS NOT NULL;
UPDATE assessments SET ever_agreed = true, plan_agreed = true, plan_version = 1,
    rated_plan_version = CASE WHEN state = 'DINILAI' THEN 1 END
WHERE plan_id IS NOT NULL;

CREATE TABLE school_submissions (
    npsn         text        NOT NULL,
    period_id    text        NOT NULL,
    atasan_nip   text        NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    assessed     text[]      NOT NULL,
    exclusions   jsonb       NOT NULL,
    PRIMARY KEY (npsn, period_id, atasan_nip)
);
CREATE INDEX assessments_npsn ON assessments (npsn, period_id);
