"""``kinerja-topics create|list``: make the cluster's topics match the registry, idempotently."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from . import cli_errors
from .kafka_login import KafkaLogin
from .topics import all_topics

PROG = "kinerja-topics"
BOOTSTRAP_ENV = "KINERJA_KAFKA_BOOTSTRAP"
# SECURITY_PROTOCOL, SASL_USERNAME, SASL_PASSWORD or SASL_PASSWORD_FILE, CA_FILE (kafka_login).
LOGIN_PREFIX = "KINERJA_KAFKA_"
DEFAULT_BOOTSTRAP = "127.0.0.1:59092"

EPILOG = f"""Every topic is declared once, in kinerja_shared/topics.py; create adds the missing
ones with their partitions and cleanup policy and leaves existing ones as they are.

examples:
  {PROG} list
  {PROG} create
  {PROG} create --bootstrap kafka-0:9092 --replication-factor 3

A broker that asks for SCRAM-SHA-512 over TLS: {LOGIN_PREFIX}SECURITY_PROTOCOL=SASL_SSL,
{LOGIN_PREFIX}SASL_USERNAME, {LOGIN_PREFIX}SASL_PASSWORD (or ..._PASSWORD_FILE), and
{LOGIN_PREFIX}CA_FILE; the local stacks set them to their admin.

{cli_errors.EXIT_STATUS}"""


async def create_topics(
    bootstrap: str, replication_factor: int = 1, client_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Create every registered topic that does not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="kinerja-topics", **(client_options or {})
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics() if t.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=t.name,
                        num_partitions=t.partitions,
                        replication_factor=replication_factor,
                        topic_configs=t.config(),
                    )
                    for t in missing
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()


def _replication_factor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Make the Kafka cluster's topics match Kinerja's topic registry.",
        epilog=EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    parser.add_argument(
        "command",
        choices=["create", "list"],
        metavar="COMMAND",
        help="create: add the registered topics the cluster lacks (idempotent); "
        "list: print each registered topic, its partitions and config (needs no broker)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT[,HOST:PORT]",
        help=f"Kafka bootstrap servers for create (default: ${BOOTSTRAP_ENV}, "
        f"else {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--replication-factor",
        type=_replication_factor,
        default=1,
        metavar="N",
        help="replicas of each topic created (at most the number of brokers)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli_errors.quiet_library_logs()
    if args.command == "list":
        for t in all_topics():
            print(t.name, t.partitions, t.config(), sep="\t")
        return 0
    bootstrap = args.bootstrap or os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP
    variable = "--bootstrap" if args.bootstrap else BOOTSTRAP_ENV

    def create() -> int:
        with cli_errors.kafka(bootstrap, variable, login=LOGIN_PREFIX):
            options = KafkaLogin.from_env(LOGIN_PREFIX).client_options()
            created = asyncio.run(create_topics(bootstrap, args.replication_factor, options))
        print(f"topics: {len(created)} created, {len(all_topics()) - len(created)} already there")
        return 0

    return cli_errors.run(PROG, create)
