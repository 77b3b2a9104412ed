"""``kinerja-topics create|list``: make the cluster's topics match the registry, idempotently."""

from __future__ import annotations

import argparse
import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from .topics import all_topics


async def create_topics(bootstrap: str, replication_factor: int = 1) -> list[str]:
    """Create every registered topic that does not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kinerja-topics")
    await admin.start()
    try:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kinerja-topics")
    parser.add_argument("command", choices=["create", "list"])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KINERJA_KAFKA_BOOTSTRAP", "127.0.0.1:59092")
    )
    parser.add_argument("--replication-factor", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "list":
        for t in all_topics():
            print(t.name, t.partitions, t.config(), sep="\t")
        return
    created = asyncio.run(create_topics(args.bootstrap, args.replication_factor))
    print(f"topics: {len(created)} created, {len(all_topics()) - len(created)} already there")
