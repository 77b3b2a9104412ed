-- The W3C traceparent of the assessment record that recommended a teacher's predikat: the
-- Kirim ke guru span links to it, so an SRE walks from the principal's click back to the
-- teacher's cycle (the rating, and through it the plan).
ALTER TABLE teacher_predikat ADD COLUMN recommended_traceparent text;
