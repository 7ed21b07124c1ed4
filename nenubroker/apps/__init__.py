"""Applications built on the library: the demo, the module tool, and the local Kafka node and Spark
cluster they (and the tests) start on this machine."""
