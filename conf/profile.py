"""Named configuration profiles: files of ``NENUBROKER_*`` variables under ``conf/profiles/``.

A profile changes a few values for one purpose (``low_latency``: short chunks, fast triggers) and
layers over the configuration file exactly as environment variables do, so the shell can use it as
well as Python (``set -a; . conf/profiles/low_latency.env; set +a``). Variables already in the
environment win over the profile's.

>>> profile_env("low_latency")["NENUBROKER_INGEST__CHUNK_TIME_SAMPLES"]
'16'
>>> load_profile("low_latency", env={}).ingest.chunk_time_samples
16
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nenubroker.conf.settings import CONF_DIR, ENV_PREFIX, Settings, load_settings

PROFILE_DIR = CONF_DIR / "profiles"


def profile_names() -> list[str]:
    """The profiles shipped in ``conf/profiles/``."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.env"))


def profile_env(name: str) -> dict[str, str]:
    """The ``NENUBROKER_*`` variables of profile ``name`` (``KEY=value`` lines, ``#`` comments)."""
    path = PROFILE_DIR / f"{name}.env"
    if not path.is_file():
        raise FileNotFoundError(f"no profile {name!r} in {PROFILE_DIR} (have: {', '.join(profile_names())})")
    variables = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith(ENV_PREFIX):
            raise ValueError(f"{path}:{number}: expected {ENV_PREFIX}<SECTION>__<KEY>=value")
        variables[key.strip()] = value.strip()
    return variables


def load_profile(name: str, path: str | Path | None = None, env: Mapping[str, str] | None = None,
                 overrides: Mapping[str, Any] | None = None) -> Settings:
    """``load_settings`` with profile ``name`` between the configuration file and ``env``."""
    env = os.environ if env is None else env
    return load_settings(path, env={**profile_env(name), **env}, overrides=overrides)


__all__ = ["PROFILE_DIR", "load_profile", "profile_env", "profile_names"]
