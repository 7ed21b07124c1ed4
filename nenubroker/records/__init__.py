"""The records that travel on nenubroker's Kafka topics, and their Avro encoding.

One module per record type (``chunk``, ``alert``, ``trigger``, ...), each a typed class with
``to_record``/``from_record`` and ``encode``/``decode``; ``avro`` names the schema of every message
in its headers.
"""
