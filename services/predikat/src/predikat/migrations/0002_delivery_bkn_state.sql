-- bkn-sync's own state behind a 'tertahan' view: PARKED (a person or a scheduled check moves it)
-- and DEAD (the automatic attempts are used up) are told to the principal in different words.
ALTER TABLE teacher_predikat ADD COLUMN bkn_state text;
