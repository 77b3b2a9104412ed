import re

from kinerja_shared.events.roster import Pegawai
from kinerja_shared.topics import REGISTRY, ROSTER_PEGAWAI, all_topics

NAME = re.compile(r"^kinerja\.[a-z]+(-[a-z]+)*\.[a-z0-9]+(-[a-z0-9]+)*\.v[1-9][0-9]*$")


def test_every_topic_name_follows_the_convention() -> None:
    assert all(NAME.fullmatch(t.name) for t in all_topics()), [t.name for t in all_topics()]
    assert len({t.name for t in all_topics()}) == len(all_topics())


def test_state_topics_are_compacted_and_event_topics_expire() -> None:
    state = {
        "kinerja.roster.pegawai.v1",
        "kinerja.roster.sekolah.v1",
        "kinerja.predikat.current.v1",
    }
    for topic in REGISTRY:
        policy = topic.config()["cleanup.policy"]
        assert policy == ("compact" if topic.name in state else "delete"), topic.name


def test_an_envelope_round_trips_through_its_topic() -> None:
    p = Pegawai(
        nip="198609262015051001",
        nama="Budi",
        npsn="31710000",
        jenis_ptk="Guru Kelas",
        status_kepegawaian="PNS",
        kode_wilayah="3171",
    )
    env = ROSTER_PEGAWAI.envelope(p.nip, p)
    back = ROSTER_PEGAWAI.decode(env.model_dump_json().encode())
    assert back == env
    assert back.producer == "roster"
    assert back.event_id.version == 7
