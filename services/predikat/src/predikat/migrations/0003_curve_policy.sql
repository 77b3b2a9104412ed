-- How a Dinas treats the distribution curve in its area (docs/domain.md §4.2): a warning a
-- Kepala Sekolah passes with a written reason, or a rule that refuses. The most specific area
-- (longest kode wilayah prefix) of a school wins; no row, the deployment's setting.
CREATE TABLE curve_policy (
    area    text        PRIMARY KEY,
    mode    text        NOT NULL CHECK (mode IN ('PERINGATAN', 'WAJIB')),
    set_by  text        NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now()
);

-- The Dinas reads the reasons of its schools' curve departures by school and period.
CREATE INDEX distribution_override_school ON distribution_override (npsn, period_id);
