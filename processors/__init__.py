"""Process Daemons: LLM agents as dependable Kafka-driven background workers.

The package is organised by concept:

- ``kafka/``      the broker (local Apache Kafka for dev/CI), client configuration, topic admin
- ``serde/``      Avro schemas from ``schemas/`` and the two wire formats
- ``catalog.py``  topics as data from ``topics/``
- ``cli/``        the ``daemons`` console script
"""

__version__ = "0.1.0"
