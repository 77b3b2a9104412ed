-- The W3C traceparent of the agreed plan's record: the rating's recommendation links to it, so
-- a trace walk goes from a predikat sent to e-Kinerja back to the teacher's plan.
ALTER TABLE assessments ADD COLUMN plan_traceparent text;
