-- A cancellation (DIBATALKAN) is a history line without a new date.
ALTER TABLE observation_schedule_history ALTER COLUMN scheduled_at DROP NOT NULL;

-- Competency development and main-duty reports (DOMAIN.md §2.5), one per kind, teacher and
-- period. ``items`` holds the activities (text + bukti) or the list of tugas pokok.
CREATE TABLE reports (
    nip          text        NOT NULL,
    period_id    text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('KOMPETENSI', 'TUGAS_POKOK')),
    state        text        NOT NULL,
    revision     integer     NOT NULL,
    items        jsonb       NOT NULL DEFAULT '[]',
    reflection   text,
    reported_at  timestamptz,
    verified_by  text,
    verified_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id, kind),
    FOREIGN KEY (nip, period_id) REFERENCES observations (nip, period_id)
);
