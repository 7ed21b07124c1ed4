"""The one typed configuration of nenubroker.

Precedence, lowest first: the defaults declared here, the YAML file (``conf/nenubroker.yaml``
unless ``NENUBROKER_CONFIG`` names another), ``NENUBROKER_*`` environment variables, then explicit
overrides passed by the caller. Nested keys are joined with a double underscore in environment
variables: ``NENUBROKER_KAFKA__BOOTSTRAP_SERVERS=host:9092``.

Secrets (SASL passwords) are never written in the file shipped with the repository: set them with
``NENUBROKER_KAFKA__SECURITY__SASL_PASSWORD`` or a private file named by ``NENUBROKER_CONFIG``.

>>> settings = load_settings(env={"NENUBROKER_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:19092"})
>>> settings.kafka.bootstrap_servers
'127.0.0.1:19092'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CONF_DIR = Path(__file__).resolve().parent
SCHEMA_DIR = CONF_DIR / "schemas"
DEFAULT_CONFIG_FILE = CONF_DIR / "nenubroker.yaml"
ENV_PREFIX = "NENUBROKER_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSecurity(_Section):
    """Client security; PLAINTEXT on the local broker, SASL_SSL with SCRAM in production."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    ssl_ca_location: str | None = None


class Topics(_Section):
    chunks: str = "nenubroker.spectra_chunks"
    alerts: str = "nenubroker.alerts"
    dead_letter: str = "nenubroker.dead_letter"
    triggers: str = "nenubroker.triggers"
    recordings: str = "nenubroker.recordings"
    chunk_features: str = "nenubroker.chunk_features"
    voevents: str = "nenubroker.voevents"
    events: str = "nenubroker.events"
    batch_requests: str = "nenubroker.batch_requests"
    batch_status: str = "nenubroker.batch_status"
    schemas: str = "nenubroker.schemas"


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    topics: Topics = Topics()
    partitions: int = 2
    replication_factor: int = 1
    max_message_bytes: int = 8 * 1024 * 1024
    security: KafkaSecurity = KafkaSecurity()


class LocalKafkaSettings(_Section):
    """The single-node KRaft broker the demo and the tests start on loopback."""

    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    startup_timeout_s: float = 90.0


class SparkSettings(_Section):
    master: str = "local[*]"
    app_name: str = "nenubroker"
    trigger_interval_s: float = 1.0
    # Write the checkpoint's offset and commit logs beside the processing instead of before and
    # after it (Kafka sink only): a micro-batch no longer waits for two file writes. On a restart
    # up to one checkpoint interval is processed again; alert ids are deterministic, so readers drop repeats.
    async_progress_tracking: bool = True
    async_checkpoint_interval_ms: int = 1000
    max_offsets_per_trigger: int | None = 64
    # Spark tasks per micro-batch of the detect stage at least (the Kafka source's minPartitions): a
    # Kafka partition's offsets are split over several tasks, so that a backlog in one partition (chunks
    # are keyed by beam) still uses every core; chunks are processed independently, so order does not
    # matter. 0: the session's default parallelism (its cores); 1: one task per Kafka partition.
    min_partitions: int = Field(0, ge=0)
    # Experimental: the detect stage in Spark's real-time mode (trigger(realTime=...), pyspark >= 4.1),
    # with batches (checkpoint intervals) of this many seconds; None: micro-batches. Spark refuses the
    # stage's Python operator unless its allowlist check is off (the stage turns it off for the session),
    # and max_offsets_per_trigger and min_partitions are then not used. bench/results/latency.md.
    real_time_batch_s: float | None = Field(None, gt=0)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    shuffle_partitions: int = 4
    extra_conf: dict[str, str] = {}


class ModulesSettings(_Section):
    """Science modules (udfs/): which run, in order, with which parameters."""

    enabled: list[str] = ["gain_steps", "rfi_flagger", "burst_search", "burst_features", "classifier_forest"]
    params: dict[str, dict[str, Any]] = {}
    alert_classifier: str | None = "classifier_forest"
    max_nonfinite_fraction: float = Field(0.5, ge=0, le=1)


class TriggerRule(_Section):
    """Alerts matching a rule become recording triggers: full resolution kept at the edge."""

    name: str
    classes: list[str] = []
    min_snr: float = 0.0
    min_probability: float = 0.0


class BatchRule(_Section):
    """Alerts matching a rule request a batch recipe over their time window (plus padding)."""

    name: str
    recipe: str = "image_window"
    classes: list[str] = []
    min_snr: float = 0.0
    min_probability: float = 0.0
    padding_s: float = Field(30.0, ge=0)


class AlertFilter(_Section):
    """A user filter: alerts it selects also go to its own topic.

    ``expression`` is a pandas query on alert fields (``class_label == 'spike' and snr > 10``);
    ``function`` names ``package.module:function`` taking the alerts DataFrame and returning a
    boolean Series. Give one of the two.
    """

    name: str
    topic: str
    description: str = ""
    expression: str | None = None
    function: str | None = None


class Pointing(_Section):
    ra_deg: float = Field(ge=0, lt=360)
    dec_deg: float = Field(ge=-90, le=90)


class RoutingSettings(_Section):
    triggers: list[TriggerRule] = []
    batch_requests: list[BatchRule] = []
    filters: list[AlertFilter] = []
    voevent_authority: str = "nenufar.obs-nancay.fr"
    voevent_stream: str = "nenubroker"
    pointings: dict[str, Pointing] = {}


class EventsSettings(_Section):
    """How the events stage joins a beam's alerts into events (broker/tracking.py)."""

    gap_s: float = Field(3.0, ge=0, description="an alert continues an event if it starts at most this long "
                                                 "after the event's emission ends")
    freq_tolerance: float = Field(0.1, ge=0, description="bands match when they overlap once widened by this "
                                                         "fraction of their centre frequency")
    close_after_s: float = Field(20.0, gt=0, description="an event no alert continued for this long (wall clock) "
                                                         "is final")
    max_open_per_beam: int = Field(64, ge=1, description="beyond this many open events, the quietest is closed")
    trigger_interval_s: float = Field(1.0, gt=0, description="micro-batch interval of the events stage")


class ReceiverSettings(_Section):
    """What a real receiver adds to the simulated sky (edge/sim/receiver.py; edge/sim/README.md,
    "Receiver effects"). Everything is off by default, so the simulated beams stay bit for bit as
    without it; ``ReceiverSettings.e_callisto_bir()`` gives what the real e-CALLISTO file in
    tests/data/callisto/ shows.
    """

    bandpass_ripple_db: float = Field(0.0, ge=0, description="rms of a smooth random ripple across the band "
                                                             "(knots every 2 MHz), dB")
    bandpass_tilt_db: float = Field(0.0, description="linear slope across the band, dB from lowest to highest channel")
    background_drift_fraction: float = Field(0.0, ge=0, description="rms change of the background over one hour "
                                                                    "(natural log of the level), smooth over minutes "
                                                                    "and 2 MHz, mean-reverting over an hour")
    gain_steps_per_hour: float = Field(0.0, ge=0, description="mean rate of receiver gain steps (all channels at once)")
    gain_step_db: tuple[float, float] = Field((0.5, 3.0), description="(min, max) of |step| in dB, sign random")
    quantisation: Literal["none", "log_digits"] = Field("none", description="log_digits: power rounded onto "
                                                                           "10^(n db_per_digit / 10)")
    db_per_digit: float = Field(2500 / 255 / 25.4, gt=0, description="log_digits step: e-CALLISTO's 0.386 dB")
    rfi_lines: int = Field(0, ge=0, description="narrowband lines that flicker like the real file's")

    @classmethod
    def e_callisto_bir(cls) -> ReceiverSettings:
        """The values measured on BIR_20110607_062400_10 (edge/sim/README.md): the 16 of its 27 lines that
        fall in the default 20.3-57.8 MHz band; no gain step in its 15 minutes; its tilt is not the
        receiver's alone (sky and antenna), so none."""
        return cls(bandpass_ripple_db=2.3, background_drift_fraction=0.6, quantisation="log_digits", rfi_lines=16)


class SimulatorSettings(_Section):
    """A simulated NenuFAR beam at beamformer resolution (edge/sim/simulator.py, edge/sim/events.py).

    Resolution follows the beamformer: df = 195312.5 / fftlen Hz, dt = fftlen * nfft2int / 195312.5 s;
    subbands ``first_subband`` .. ``first_subband + n_subbands - 1`` (subband n is centred on
    n * 195312.5 Hz). Event amplitudes are peak S/N per pixel at this resolution. Rates count draws:
    one spike cluster, S-burst train, type III (with its harmonic), type III group with its type V,
    type I storm or L-burst arc per draw. The classes of edge/sim/README.md added after the first
    five (type_i, type_ii, type_iii_u, type_iii_j, type_iv, type_v, jupiter_l) default to rate 0.
    ``event_snr`` also sets the level of the persistent RFI channels ("rfi_persistent", each 0.5-1 x
    that).
    """

    beams: list[str] = ["beam0", "beam1"]
    fftlen: int = Field(64, ge=16, le=2048)
    nfft2int: int = Field(64, ge=4, le=1024)
    first_subband: int = Field(104, ge=0, le=511)
    n_subbands: int = Field(192, ge=1, le=768)
    block_spectra: int = Field(64, ge=1)
    event_rates_per_min: dict[str, float] = {
        "type_iii": 2.0, "type_iiib": 0.5, "spike": 2.0, "jupiter_s": 1.0, "rfi_impulse": 1.0,
        "type_i": 0.0, "type_ii": 0.0, "type_iii_u": 0.0, "type_iii_j": 0.0, "type_iv": 0.0, "type_v": 0.0,
        "jupiter_l": 0.0}
    event_snr: dict[str, float] = {
        "type_iii": 3.0, "type_iiib": 3.0, "spike": 3.0, "jupiter_s": 3.0, "rfi_impulse": 3.0,
        "rfi_persistent": 30.0, "type_i": 3.0, "type_ii": 3.0, "type_iii_u": 3.0, "type_iii_j": 3.0,
        "type_iv": 2.0, "type_v": 2.0, "jupiter_l": 3.0}
    harmonic_fraction: float = Field(0.3, ge=0, le=1)
    persistent_rfi_channels: int = Field(3, ge=0)
    lost_block_fraction: float = Field(0.0, ge=0, le=1)
    realtime: bool = True
    seed: int = 1
    receiver: ReceiverSettings = ReceiverSettings()  # bandpass, drift, gain steps, RFI lines, digits: off


class CallistoIngestSettings(_Section):
    """e-CALLISTO FITS files (edge/callisto_file.py): 0.25 s x ~0.35 MHz, already detection resolution.

    When ``nenubroker edge ingest`` reads a FITS file, these replace the ingest section's block,
    averaging and chunk sizes. Defaults: no averaging, 64-sample (16 s) chunks overlapping by 16 (4 s).
    """

    block_time_samples: int = Field(240, ge=1, description="samples per block read from the file (60 s)")
    downsample_time: int = Field(1, ge=1, description="samples averaged per detection sample (0.25 s each)")
    downsample_freq: int = Field(1, ge=1, description="adjacent channels averaged (irregularly spaced)")
    chunk_time_samples: int = Field(64, ge=4, description="detection samples per chunk (16 s)")
    overlap_time_samples: int = Field(16, ge=0, description="samples a chunk repeats of the previous one (4 s)")
    freq_step_hz: float | None = Field(None, gt=0, description="None: the file's channels; else a regular grid")
    dither: bool = Field(True, description="spread digits over their +-0.5 quantisation interval")
    saturated_digit: int = Field(255, ge=1, le=255, description="digits at or above: clipped ADC, lost (NaN)")
    lost_digit: int = Field(0, ge=0, le=254, description="digits at or below: no data, lost (NaN)")


class IngestSettings(_Section):
    """The edge ingester: detection stream (downsampled) to Kafka, full resolution to the ring buffer."""

    downsample_time: int = Field(4, ge=1)
    downsample_freq: int = Field(16, ge=1)
    chunk_time_samples: int = Field(64, ge=4)
    overlap_time_samples: int = Field(16, ge=0)
    ring_buffer_s: float = Field(60.0, gt=0)
    ring_buffer_max_mb: float = Field(2048.0, gt=0)
    send_buffer_max_mb: float = Field(256.0, gt=0)
    send_timeout_s: float = Field(120.0, gt=0)
    callisto: CallistoIngestSettings = CallistoIngestSettings()  # e-CALLISTO FITS files instead of .spectra


class RecordingSettings(_Section):
    """Selective high-resolution recording at the edge, on triggers from the broker."""

    output_dir: Path = Path(".cache/recordings")
    padding_s: float = Field(2.0, ge=0)
    compression: Literal["gzip", "lzf"] = "gzip"


class SparkClusterSettings(_Section):
    """The standalone Spark cluster that ``nenubroker cluster start`` runs on loopback."""

    host: str = "127.0.0.1"
    master_port: int = 7077
    master_webui_port: int = 8080
    workers: int = Field(2, ge=1)
    worker_cores: int = Field(1, ge=1)
    worker_memory: str = "2g"
    startup_timeout_s: float = 60.0


class BatchSettings(_Section):
    """Measurement Set processing (batch/): where data and products live, how recipes run."""

    ms_dir: Path = Path(".cache/ms")           # Measurement Sets that batch requests are matched against
    work_dir: Path = Path(".cache/batch")      # partition MSs, step products with provenance, cubes
    recipe_dir: Path = CONF_DIR / "recipes"    # recipes by name (<name>.yaml)
    max_attempts: int = Field(2, ge=1)         # a failed partition is tried this many times in all
    spark_master: str | None = None            # default: spark.master
    cluster: SparkClusterSettings = SparkClusterSettings()


class PathSettings(_Section):
    cache_dir: Path = Path(".cache")
    lake_dir: Path = Path(".cache/lake")
    checkpoint_dir: Path = Path(".cache/checkpoints")
    run_dir: Path = Path(".cache/run")


class Settings(_Section):
    kafka: KafkaSettings = KafkaSettings()
    local_kafka: LocalKafkaSettings = LocalKafkaSettings()
    spark: SparkSettings = SparkSettings()
    modules: ModulesSettings = ModulesSettings()
    routing: RoutingSettings = RoutingSettings()
    events: EventsSettings = EventsSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    ingest: IngestSettings = IngestSettings()
    recording: RecordingSettings = RecordingSettings()
    batch: BatchSettings = BatchSettings()
    paths: PathSettings = PathSettings()


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; an empty mapping replaces rather than merges (``event_rates_per_min: {}`` = none)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and value and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def overrides_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Nested overrides from ``NENUBROKER_A__B=value`` variables (values parsed as YAML scalars)."""
    overrides: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw != "" else None
    return overrides


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the YAML file, then ``NENUBROKER_*`` variables, then ``overrides``."""
    env = os.environ if env is None else env
    path = Path(path or env.get(ENV_PREFIX + "CONFIG") or DEFAULT_CONFIG_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    from_file = yaml.safe_load(path.read_text()) or {}
    if not isinstance(from_file, dict):
        raise ValueError(f"{path}: the top level must be a mapping of sections")
    data = _merge(_merge(from_file, overrides_from_env(env)), overrides or {})
    return Settings.model_validate(data)


__all__ = ["SCHEMA_DIR", "Settings", "load_settings", "overrides_from_env"]
