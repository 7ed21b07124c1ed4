"""The edge: simulated or recorded NenuFAR dynamic spectra, cut into chunks and streamed to Kafka."""
