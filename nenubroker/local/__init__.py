"""Services nenubroker starts on this machine: the KRaft Kafka node and the Java dependencies it needs."""
