"""The Spark Structured Streaming broker: reads chunk topics, runs science modules, writes alerts."""
