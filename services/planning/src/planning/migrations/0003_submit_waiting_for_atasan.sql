-- A submission refused only because the roster named no atasan (V-03) waits here for the roster
-- fix, which then submits the plan by itself (docs/domain.md §2.2). The version it waits on:
-- any later change to the plan (an edit, a withdrawal) means the teacher acts again themselves.
ALTER TABLE plans ADD COLUMN submit_waiting_version integer;
ALTER TABLE plans ADD COLUMN submit_waiting_since timestamptz;
