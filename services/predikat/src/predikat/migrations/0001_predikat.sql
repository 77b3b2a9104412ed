-- The school's org predikat, set by the Dinas (DOMAIN.md §2.7).
CREATE TABLE org_predikat (
    npsn                text        NOT NULL,
    period_id           text        NOT NULL,
    predikat_organisasi text        NOT NULL,
    state               text        NOT NULL,
    revision            integer     NOT NULL DEFAULT 1,
    ditetapkan_by       text        NOT NULL,
    ditetapkan_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (npsn, period_id)
);

-- One teacher's predikat for one period: the recommendation, the KS's decision, and where the
-- last sent version stands at e-Kinerja. ``version`` 0 = never sent.
CREATE TABLE teacher_predikat (
    nip                  text        NOT NULL,
    period_id            text        NOT NULL,
    npsn                 text        NOT NULL,
    atasan_nip           text        NOT NULL,
    hasil_kerja          text        NOT NULL,
    perilaku_kerja       text        NOT NULL,
    recommended_predikat text        NOT NULL,
    predikat             text        NOT NULL,
    override_reason      text,
    state                text        NOT NULL DEFAULT 'DRAF',
    distribution_reason  text,
    penilai_nip          text,
    ditetapkan_at        timestamptz,
    version              integer     NOT NULL DEFAULT 0,
    delivery_id          text,
    delivery_state       text        NOT NULL DEFAULT 'belum_dikirim',
    next_attempt_at      timestamptz,
    reason_code          text,
    reason               text,
    remedy               text,
    actor                text,
    delivered_version    integer,
    delivered_predikat   text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id)
);
CREATE INDEX teacher_predikat_school ON teacher_predikat (npsn, period_id);

-- Every version sent, with why it replaced the one before: the audit trail of corrections.
CREATE TABLE predikat_version (
    nip               text        NOT NULL,
    period_id         text        NOT NULL,
    version           integer     NOT NULL,
    predikat          text        NOT NULL,
    delivery_id       text        NOT NULL,
    correction_reason text,
    sent_by           text        NOT NULL,
    sent_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nip, period_id, version)
);

-- Who passed a distribution-curve warning (V-21) and why; visible to the Dinas (§4.2).
CREATE TABLE distribution_override (
    id         bigserial PRIMARY KEY,
    npsn       text        NOT NULL,
    period_id  text        NOT NULL,
    reason     text        NOT NULL,
    violations jsonb       NOT NULL,
    counts     jsonb       NOT NULL,
    by_nip     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
