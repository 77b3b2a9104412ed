-- Each service's own copy of the roster, built from kinerja.roster.pegawai.v1 and .sekolah.v1.
-- Services never read another service's tables: this projection is how they know who is whose
-- atasan and which Dinas area a school is in.
CREATE TABLE roster_pegawai (
    nip                text PRIMARY KEY,
    nama               text        NOT NULL,
    npsn               text        NOT NULL,
    jenis_ptk          text        NOT NULL,
    status_kepegawaian text        NOT NULL,
    naungan            text        NOT NULL,
    kode_wilayah       text        NOT NULL,
    atasan_nip         text,
    atasan_plt         boolean     NOT NULL DEFAULT false,
    aktif              boolean     NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX roster_pegawai_atasan ON roster_pegawai (atasan_nip);
CREATE INDEX roster_pegawai_npsn ON roster_pegawai (npsn);

CREATE TABLE roster_sekolah (
    npsn         text PRIMARY KEY,
    nama         text        NOT NULL,
    kode_wilayah text        NOT NULL,
    naungan      text        NOT NULL,
    updated_at   timestamptz NOT NULL
);
