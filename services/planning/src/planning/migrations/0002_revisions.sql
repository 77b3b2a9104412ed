-- An agreed plan may be reopened as its next revision (DOMAIN.md §2.2 DIREVISI). The plan row
-- holds the live revision; plan_transitions, insert-only, keeps every version with its content,
-- so the content each revision was agreed with stays readable after the plan moved on.
ALTER TABLE plans
    ADD COLUMN revision        integer NOT NULL DEFAULT 1,
    ADD COLUMN revision_reason text;

ALTER TABLE plan_transitions
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    -- NULL for versions written before this migration: their content was not recorded.
    ADD COLUMN content  jsonb;
